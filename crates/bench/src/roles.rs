//! What a connected client does: publish, subscribe, or sit idle.
//!
//! A publisher encodes its PUBLISH once with the codec (a template) and per
//! message copies it, patching the packet identifier and the 20-byte
//! payload header: sequence number (u64), send time in ns since the run's
//! base `Instant` (u64), publisher index (u32), all big-endian. Messages go
//! out in batches, one `write_all` each, so the generator spends its time in
//! the kernel, not in per-message overhead.
//!
//! A subscriber reads, decodes every buffered packet, records latency from
//! the header, marks the sequence number in a per-publisher bit set (loss
//! and duplicates are counted from those at the end) and writes all acks of
//! one read in one write.

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use kumo_mqtt::{decode, encode, encode_publish, Ack, Packet, Properties, Publish, QoS};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::time::Instant;

use crate::conn::{disconnect, Client, Failure, MAX_PACKET};
use crate::hist::Histogram;
use crate::run::{Ctx, Window};

/// Bytes of the payload header.
pub const HEADER: usize = 20;
/// Most messages one write carries.
const BATCH: usize = 64;
const BATCH_BYTES: usize = 64 * 1024;

#[derive(Debug, Default)]
pub struct PubResult {
    pub index: u32,
    /// All messages sent, warm-up included (sequence numbers 0..sent_total).
    pub sent_total: u64,
    /// Messages sent inside the measured window.
    pub sent_window: u64,
    /// Acknowledgements (PUBACK / PUBCOMP) received.
    pub acked: u64,
    /// QoS 1/2 messages still unacknowledged when the publisher gave up waiting.
    pub unacked: u64,
    /// Send time of the last message, ns since base.
    pub last_send_ns: u64,
}

/// Publish to `topic` until the window ends or `count` messages are sent.
pub async fn publisher(
    ctx: Arc<Ctx>,
    index: u32,
    topic: String,
    client: Client,
    mut start: watch::Receiver<Option<Window>>,
) -> Result<PubResult, Failure> {
    let o = &ctx.opts;
    let version = client.version;
    let qos = QoS::from_u8(o.qos).unwrap();
    let Client { stream, rbuf, .. } = client;
    let (mut rd, mut wr) = tokio::io::split(stream);

    // Template: the encoded PUBLISH with a zeroed payload.
    let mut template = BytesMut::new();
    let pid_at = encode_publish(
        &Publish {
            dup: false,
            qos,
            retain: false,
            topic: topic.clone().into(),
            packet_id: u16::from(qos != QoS::AtMostOnce),
            properties: Properties::default(),
            payload: vec![0u8; o.payload_size].into(),
        },
        version,
        &mut template,
    );
    let payload_at = template.len() - o.payload_size;
    let batch = (BATCH_BYTES / template.len()).clamp(1, BATCH);

    let window = loop {
        if let Some(w) = *start.borrow_and_update() {
            break w;
        }
        if start.changed().await.is_err() {
            return Ok(PubResult {
                index,
                ..Default::default()
            });
        }
    };

    let inflight = o.inflight.max(1) as usize;
    let sem = Arc::new(Semaphore::new(inflight));
    let (rel_tx, mut rel_rx) = mpsc::unbounded_channel::<u16>();
    let acked = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let reader = {
        let (sem, acked, ctx) = (sem.clone(), acked.clone(), ctx.clone());
        let mut rbuf = rbuf;
        tokio::spawn(async move {
            loop {
                loop {
                    match decode(&mut rbuf, version, MAX_PACKET) {
                        Ok(Some(Packet::PubAck(_))) | Ok(Some(Packet::PubComp(_))) => {
                            acked.fetch_add(1, Relaxed);
                            sem.add_permits(1);
                        }
                        Ok(Some(Packet::PubRec(a))) => {
                            if a.reason.is_error() {
                                ctx.error("pubrec_error", format!("{:?}", a.reason));
                                acked.fetch_add(1, Relaxed);
                                sem.add_permits(1);
                            } else {
                                let _ = rel_tx.send(a.packet_id);
                            }
                        }
                        Ok(Some(Packet::Disconnect(d))) => {
                            ctx.error("disconnected_by_broker", format!("{:?}", d.reason));
                            return;
                        }
                        Ok(Some(_)) => {}
                        Ok(None) => break,
                        Err(e) => {
                            ctx.error("decode", e);
                            return;
                        }
                    }
                }
                rbuf.reserve(4096);
                match rd.read_buf(&mut rbuf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
    };

    let rate = o.rate;
    let limit = o.count.unwrap_or(u64::MAX);
    let t_start = ctx.base + Duration::from_nanos(ctx.now_ns());
    let keepalive = Duration::from_secs(o.keepalive.max(1) as u64) / 2;
    let mut buf = BytesMut::with_capacity(batch * template.len() + 64);
    let mut seq: u64 = 0;
    let mut sent_window = 0u64;
    let mut last_send_ns = 0u64;
    let mut pid: u16 = 0;
    let mut last_write = Instant::now();
    let mut result: Result<(), Failure> = Ok(());

    'run: loop {
        if seq >= limit {
            break;
        }
        let now_ns = ctx.now_ns();
        if now_ns >= window.end_ns {
            break;
        }
        // How many are due now.
        let mut allowed = batch as u64;
        if rate > 0.0 {
            let elapsed =
                (ctx.base + Duration::from_nanos(now_ns)).saturating_duration_since(t_start);
            let due = (elapsed.as_secs_f64() * rate) as u64 + 1;
            allowed = due.saturating_sub(seq).min(batch as u64);
            if allowed == 0 {
                let next = t_start + Duration::from_secs_f64(seq as f64 / rate);
                let end = ctx.base + Duration::from_nanos(window.end_ns);
                let wake = next.min(end).min(last_write + keepalive);
                tokio::select! {
                    Some(id) = rel_rx.recv() => { put_ack(&mut buf, Packet::PubRel(Ack::new(id)), version); }
                    _ = tokio::time::sleep_until(wake) => {
                        if Instant::now() >= last_write + keepalive {
                            encode(&Packet::PingReq, version, &mut buf);
                        }
                    }
                }
                if !buf.is_empty() {
                    if let Err(e) = wr.write_all(&buf).await {
                        result = Err(Failure::new("io", e));
                        break 'run;
                    }
                    buf.clear();
                    last_write = Instant::now();
                }
                continue;
            }
        }
        allowed = allowed.min(limit - seq);
        while let Ok(id) = rel_rx.try_recv() {
            put_ack(&mut buf, Packet::PubRel(Ack::new(id)), version);
        }
        let mut n = allowed;
        if qos != QoS::AtMostOnce {
            let mut got = 0u64;
            while got < n && sem.try_acquire().map(|p| p.forget()).is_ok() {
                got += 1;
            }
            if got == 0 && buf.is_empty() {
                // Window full: wait for an ack (or a PUBREC to answer).
                let end = ctx.base + Duration::from_nanos(window.end_ns);
                tokio::select! {
                    biased;
                    Some(id) = rel_rx.recv() => { put_ack(&mut buf, Packet::PubRel(Ack::new(id)), version); }
                    p = sem.acquire() => { if let Ok(p) = p { p.forget(); got = 1; } }
                    _ = tokio::time::sleep_until(end) => {}
                }
            }
            n = got;
        }
        if n > 0 {
            let ts = ctx.now_ns();
            let in_window = ts >= window.start_ns;
            for _ in 0..n {
                let at = buf.len();
                buf.extend_from_slice(&template);
                if let Some(off) = pid_at {
                    pid = pid.checked_add(1).unwrap_or(1);
                    buf[at + off..at + off + 2].copy_from_slice(&pid.to_be_bytes());
                }
                let h = &mut buf[at + payload_at..at + payload_at + HEADER];
                h[0..8].copy_from_slice(&seq.to_be_bytes());
                h[8..16].copy_from_slice(&ts.to_be_bytes());
                h[16..20].copy_from_slice(&index.to_be_bytes());
                seq += 1;
            }
            if in_window {
                sent_window += n;
            }
            last_send_ns = ts;
            ctx.sent.fetch_add(n, Relaxed);
        }
        if !buf.is_empty() {
            if let Err(e) = wr.write_all(&buf).await {
                result = Err(Failure::new("io", e));
                break;
            }
            buf.clear();
            last_write = Instant::now();
        }
    }

    // Wait for the window to drain (answering PUBRECs), then disconnect.
    let mut unacked = 0;
    if result.is_ok() && qos != QoS::AtMostOnce {
        let deadline = Instant::now() + Duration::from_secs_f64(o.drain_timeout);
        loop {
            if sem.available_permits() >= inflight {
                break;
            }
            tokio::select! {
                Some(id) = rel_rx.recv() => {
                    let mut b = BytesMut::new();
                    put_ack(&mut b, Packet::PubRel(Ack::new(id)), version);
                    if wr.write_all(&b).await.is_err() { break; }
                }
                _ = tokio::time::sleep(Duration::from_millis(5)) => {}
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        unacked = inflight.saturating_sub(sem.available_permits()) as u64;
    }
    disconnect(&mut wr, version).await;
    if tokio::time::timeout(Duration::from_secs(2), reader)
        .await
        .is_err()
    {
        // The broker did not close after DISCONNECT; nothing more to read.
    }
    result?;
    Ok(PubResult {
        index,
        sent_total: seq,
        sent_window,
        acked: acked.load(Relaxed),
        unacked,
        last_send_ns,
    })
}

fn put_ack(buf: &mut BytesMut, p: Packet, version: kumo_mqtt::ProtocolVersion) {
    encode(&p, version, buf);
}

/// Sequence numbers seen from one publisher, as a growable bit set.
#[derive(Default, Clone)]
pub struct SeqSet {
    bits: Vec<u64>,
    pub count: u64,
}

impl SeqSet {
    /// Mark `seq`; false if it was already there (a duplicate).
    #[inline]
    pub fn insert(&mut self, seq: u64) -> bool {
        let w = (seq / 64) as usize;
        if w >= self.bits.len() {
            self.bits.resize((w + 1).max(self.bits.len() * 2), 0);
        }
        let m = 1u64 << (seq % 64);
        if self.bits[w] & m != 0 {
            return false;
        }
        self.bits[w] |= m;
        self.count += 1;
        true
    }

    /// How many of 0..n are present.
    pub fn count_below(&self, n: u64) -> u64 {
        let full = (n / 64) as usize;
        let mut c: u64 = self
            .bits
            .iter()
            .take(full)
            .map(|w| w.count_ones() as u64)
            .sum();
        if n & 63 != 0 {
            if let Some(w) = self.bits.get(full) {
                c += (w & ((1u64 << (n % 64)) - 1)).count_ones() as u64;
            }
        }
        c
    }

    /// Merge `other` in; returns how many were already present (duplicates
    /// across members of a shared-subscription group).
    pub fn merge(&mut self, other: &SeqSet) -> u64 {
        if other.bits.len() > self.bits.len() {
            self.bits.resize(other.bits.len(), 0);
        }
        let mut dup = 0;
        for (a, b) in self.bits.iter_mut().zip(&other.bits) {
            dup += (*a & *b).count_ones() as u64;
            *a |= *b;
        }
        self.count += other.count - dup;
        dup
    }
}

#[derive(Default)]
pub struct SubResult {
    /// Messages received that were sent inside the measured window.
    pub received: u64,
    /// Messages received while the window was open (by arrival time).
    pub delivered_window: u64,
    /// All PUBLISHes received, warm-up and duplicates included.
    pub total: u64,
    /// Same sequence number from the same publisher twice.
    pub duplicates: u64,
    /// Payloads without our header (foreign publishers).
    pub foreign: u64,
    pub latency: Histogram,
    pub seqs: HashMap<u32, SeqSet>,
    pub last_recv_ns: u64,
}

/// Receive until `done` turns true; ack what needs acking.
pub async fn subscriber(
    ctx: Arc<Ctx>,
    client: Client,
    mut start: watch::Receiver<Option<Window>>,
    mut done: watch::Receiver<bool>,
) -> Result<SubResult, Failure> {
    let version = client.version;
    let Client {
        mut stream,
        mut rbuf,
        ..
    } = client;
    let mut r = SubResult::default();
    let mut wbuf = BytesMut::with_capacity(4096);
    let keepalive = Duration::from_secs(ctx.opts.keepalive.max(1) as u64) / 2;
    let ping = tokio::time::sleep(keepalive);
    tokio::pin!(ping);
    let mut window = Window {
        start_ns: u64::MAX,
        end_ns: u64::MAX,
    };
    let mut last: Option<(u32, SeqSet)> = None; // cache of the last publisher's set
    let mut result = Ok(());
    'run: loop {
        if let Some(w) = *start.borrow_and_update() {
            window = w;
        }
        let now = ctx.now_ns();
        let mut n_pub = 0u64;
        loop {
            match decode(&mut rbuf, version, MAX_PACKET) {
                Ok(Some(Packet::Publish(p))) => {
                    n_pub += 1;
                    match p.qos {
                        QoS::AtMostOnce => {}
                        QoS::AtLeastOnce => {
                            encode(&Packet::PubAck(Ack::new(p.packet_id)), version, &mut wbuf)
                        }
                        QoS::ExactlyOnce => {
                            encode(&Packet::PubRec(Ack::new(p.packet_id)), version, &mut wbuf)
                        }
                    }
                    let b = &p.payload;
                    if b.len() < HEADER {
                        r.foreign += 1;
                        continue;
                    }
                    let seq = u64::from_be_bytes(b[0..8].try_into().unwrap());
                    let ts = u64::from_be_bytes(b[8..16].try_into().unwrap());
                    let from = u32::from_be_bytes(b[16..20].try_into().unwrap());
                    if ts > now.saturating_add(1_000_000_000) {
                        r.foreign += 1;
                        continue;
                    }
                    if last.as_ref().map(|l| l.0) != Some(from) {
                        if let Some((k, s)) = last.take() {
                            r.seqs.insert(k, s);
                        }
                        last = Some((from, r.seqs.remove(&from).unwrap_or_default()));
                    }
                    let set = &mut last.as_mut().unwrap().1;
                    if !set.insert(seq) {
                        r.duplicates += 1;
                        continue;
                    }
                    if ts >= window.start_ns {
                        r.received += 1;
                        r.latency.record(now.saturating_sub(ts));
                    }
                    if now >= window.start_ns && now < window.end_ns {
                        r.delivered_window += 1;
                    }
                }
                Ok(Some(Packet::PubRel(a))) => {
                    encode(&Packet::PubComp(Ack::new(a.packet_id)), version, &mut wbuf)
                }
                Ok(Some(Packet::Disconnect(d))) => {
                    result = Err(Failure::new(
                        "disconnected_by_broker",
                        format!("{:?}", d.reason),
                    ));
                    break 'run;
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => {
                    result = Err(Failure::new("decode", e));
                    break 'run;
                }
            }
        }
        if n_pub > 0 {
            r.total += n_pub;
            r.last_recv_ns = now;
            ctx.received.fetch_add(n_pub, Relaxed);
        }
        if !wbuf.is_empty() {
            if let Err(e) = stream.write_all(&wbuf).await {
                result = Err(Failure::new("io", e));
                break;
            }
            wbuf.clear();
            ping.as_mut().reset(Instant::now() + keepalive);
        }
        if *done.borrow() {
            break;
        }
        rbuf.reserve(16 * 1024);
        tokio::select! {
            res = stream.read_buf(&mut rbuf) => match res {
                Ok(0) => { result = Err(Failure::new("closed_by_broker", "connection closed")); break; }
                Ok(_) => {}
                Err(e) => { result = Err(Failure::new("io", e)); break; }
            },
            _ = &mut ping => {
                encode(&Packet::PingReq, version, &mut wbuf);
                ping.as_mut().reset(Instant::now() + keepalive);
            }
            _ = done.changed() => {}
            _ = start.changed() => {}
        }
    }
    if let Some((k, s)) = last.take() {
        r.seqs.insert(k, s);
    }
    disconnect(&mut stream, version).await;
    if let Err(f) = result {
        if !*done.borrow() {
            ctx.error(&f.kind, &f.detail);
        }
    }
    Ok(r)
}

/// Hold a connection open (pinging) until `done`.
pub async fn idle(ctx: Arc<Ctx>, client: Client, mut done: watch::Receiver<bool>) {
    let version = client.version;
    let Client {
        mut stream,
        mut rbuf,
        ..
    } = client;
    let keepalive = Duration::from_secs(ctx.opts.keepalive.max(1) as u64) / 2;
    let mut out = BytesMut::new();
    encode(&Packet::PingReq, version, &mut out);
    while !*done.borrow() {
        rbuf.clear();
        rbuf.reserve(256);
        tokio::select! {
            res = stream.read_buf(&mut rbuf) => match res {
                Ok(0) | Err(_) => { ctx.error("closed_by_broker", "idle connection closed"); return; }
                Ok(_) => {}
            },
            _ = tokio::time::sleep(keepalive) => {
                if stream.write_all(&out).await.is_err() { ctx.error("io", "ping failed"); return; }
            }
            _ = done.changed() => {}
        }
    }
    disconnect(&mut stream, version).await;
}

#[cfg(test)]
mod tests {
    use super::SeqSet;

    #[test]
    fn seq_set_counts_gaps_and_duplicates() {
        let mut a = SeqSet::default();
        for s in (0..200).filter(|s| s % 10 != 3) {
            assert!(a.insert(s));
        }
        assert!(!a.insert(5));
        assert_eq!(a.count_below(200), 180);
        assert_eq!(a.count_below(64), 64 - 7);
        let mut b = SeqSet::default();
        b.insert(3);
        b.insert(5); // also in a: a duplicate across group members
        assert_eq!(a.merge(&b), 1);
        assert_eq!(a.count_below(200), 181);
    }
}
