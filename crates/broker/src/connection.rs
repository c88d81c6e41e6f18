//! One client connection, read side: CONNECT and the session it attaches
//! to, then every packet the client sends, until the connection ends and the
//! session is detached (will, expiry). Writes go through the writer task.

mod subscribe;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kumo_mqtt::{
    decode, Ack, ConnAck, Disconnect, Packet, Properties, PropertySet, ProtocolVersion, Publish,
    QoS, ReasonCode,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf};

use crate::auth::{ConnectRequest, Permissions, Refused};
use crate::counter::WantsPublisherIds;
use crate::events;
use crate::handshake::{read_connect, refuse};
use crate::message::Message;
use crate::persist;
use crate::session::{ClosedOnDrop, Control, Link, Phase, Session, State};
use crate::writer::{self, Outbox, Params};
use crate::{Compat, ConnectionInfo, Inner};
use kumo_store::{Commit, InFlightRecord, Op, StoreError};

/// Why the connection ended, which decides what happens to the will.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// DISCONNECT with reason 0x00: the will is discarded.
    Normal,
    /// DISCONNECT 0x04, or any end without a clean DISCONNECT: will published.
    Abnormal,
}

struct Conn {
    inner: Arc<Inner>,
    session: Arc<Session>,
    version: ProtocolVersion,
    outbox: Arc<Outbox>,
    /// Aliases the client set up towards us (MQTT 5).
    aliases: Vec<Option<Bytes>>,
    will: Option<(Arc<Message>, u32)>,
    /// Session expiry requested in CONNECT (MQTT 5), possibly updated by DISCONNECT.
    expiry: u32,
    connect_expiry_zero: bool,
    /// Subscribers whose queues this connection's publishes filled past
    /// their high-water mark: wait for them before reading more.
    congested: Vec<Arc<Session>>,
    /// PUBACKs/PUBRECs waiting for the store to commit what they
    /// acknowledge, in the order their PUBLISHes arrived ([MQTT-4.6.0-2]).
    /// Acks that need no commit queue behind them while any wait.
    acks: VecDeque<(Vec<Commit>, Packet)>,
    /// What this client's acknowledgements change in the store (Dequeue,
    /// QoS 2 InFlight released), told to it once per read batch: these
    /// need not be durable, and a late one is harmless (none is ever early).
    store_ops: RefCell<Vec<Op>>,
    /// What the authorizer allows this connection (None: everything).
    perms: Option<Arc<dyn Permissions>>,
    /// For lifecycle events: the connection's number and identifier, and
    /// who it authenticated as.
    conn_id: u64,
    session_identifier: String,
    principal: Option<Arc<str>>,
    /// Why the connection ended, in AWS's `disconnectReason` words; unset
    /// when the client just went away (CONNECTION_LOST).
    cause: Cell<Option<&'static str>>,
}

pub(crate) async fn run<S>(inner: Arc<Inner>, stream: S, info: ConnectionInfo)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // The client certificate is kept only until the authorizer has seen
    // CONNECT: it is not worth holding for the connection's life.
    let ConnectionInfo {
        remote,
        listener,
        principal,
        client_cert,
        admin,
        publisher_ids,
        ..
    } = info;
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut buf = BytesMut::with_capacity(READ_MIN);
    let max = inner.config.max_packet_size as usize;

    let connect = match tokio::time::timeout(
        inner.config.connect_timeout,
        Box::pin(read_connect(&mut rd, &mut buf, max)),
    )
    .await
    {
        Ok(Ok(c)) => c,
        Ok(Err(Some((version, reason)))) => {
            tracing::debug!(%remote, %reason, "CONNECT refused");
            refuse(&mut wr, version, reason).await;
            return;
        }
        Ok(Err(None)) | Err(_) => return,
    };
    let version = connect.protocol;

    let accepted = match inner.accept_connect(&connect) {
        Ok(a) => a,
        Err(reason) => {
            tracing::info!(%remote, client_id = %connect.client_id, %reason, "connection refused");
            refuse(&mut wr, version, reason).await;
            return;
        }
    };

    let perms = match inner.authorizer.get() {
        None => None,
        Some(authorizer) => {
            let req = ConnectRequest {
                client_id: &accepted.client_id,
                remote,
                listener,
                principal: principal.as_deref(),
                admin,
                client_cert: client_cert.as_deref(),
                persistent: accepted.expiry > 0,
                will_topic: connect.will.as_ref().map(|w| w.topic.as_str()),
            };
            match authorizer.connect(&req) {
                Ok(perms) => perms,
                Err(Refused(why)) => {
                    tracing::info!(%remote, client_id = %accepted.client_id, %why,
                        "connection refused: not authorized");
                    // AWS IoT: MQTT 3.1.1 gets no CONNACK at all.
                    if version.is_v5() {
                        refuse(&mut wr, version, ReasonCode::NotAuthorized).await;
                    } else {
                        let _ = wr.shutdown().await;
                    }
                    return;
                }
            }
        }
    };
    drop(client_cert);

    let conn_id = inner.new_id();
    let control = Arc::new(Control::default());
    let closed = ClosedOnDrop(control.clone());
    let link = Link {
        conn_id,
        control: control.clone(),
        principal: principal.clone(),
    };
    let (session, session_present) = Box::pin(inner.attach(
        &accepted.client_id,
        connect.clean_start,
        accepted.expiry,
        link,
    ))
    .await;

    let ack = ConnAck {
        session_present,
        reason: ReasonCode::Success,
        properties: accepted.connack_properties,
    };
    let params = Params {
        version,
        max_packet_size: connect.properties.maximum_packet_size,
        window: usize::from(connect.properties.receive_maximum.unwrap_or(u16::MAX))
            .min(usize::from(inner.config.max_inflight)),
        topic_alias_maximum: connect.properties.topic_alias_maximum.unwrap_or(0),
        problem_information: connect.properties.request_problem_information != Some(0),
        max_queued: inner.config.max_queued_messages,
        publisher_ids: publisher_ids && version.is_v5(),
    };
    // Counted while this connection lives: publishers attach their client
    // ID to messages only while someone wants it.
    let _wants_ids = params
        .publisher_ids
        .then(|| WantsPublisherIds::new(&inner.publisher_ids_wanted));
    let outbox = Arc::new(Outbox::new(params));
    outbox.push(Packet::ConnAck(ack));
    let writer = tokio::spawn(writer::run(
        wr,
        session.clone(),
        outbox.clone(),
        control.clone(),
        inner.store.clone(),
        perms.clone(),
    ));
    session.notify.notify_one();
    tracing::info!(client_id = %session.client_id, %remote, listener,
        protocol = version.level(), session_present, "client connected");

    let will = connect.will.as_ref().map(|w| {
        let (expires_at, props) = message_properties(&w.properties);
        let msg = Message::published_by(
            Bytes::from(w.topic.clone()),
            w.payload.clone(),
            w.qos,
            w.retain,
            props,
            expires_at,
            session.id,
            Some(session.client_id.clone()),
        );
        (msg, w.properties.will_delay_interval.unwrap_or(0))
    });
    let mut conn = Conn {
        inner: inner.clone(),
        session: session.clone(),
        version,
        outbox,
        aliases: Vec::new(),
        will,
        expiry: accepted.expiry,
        connect_expiry_zero: accepted.expiry == 0,
        congested: Vec::new(),
        acks: VecDeque::new(),
        store_ops: RefCell::new(Vec::new()),
        perms: perms.clone(),
        conn_id,
        session_identifier: events::session_identifier(conn_id),
        principal,
        cause: Cell::new(None),
    };
    inner.event_connected(&conn.subject(), remote.ip());

    let keep_alive = accepted.keep_alive;
    let end = conn
        .read_loop(&mut rd, &mut buf, &control, keep_alive)
        .await;
    conn.flush_store_ops();

    conn.outbox.close();
    session.notify.notify_one();
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
    let generation = {
        let mut st = session.lock();
        if st.link.as_ref().is_some_and(|l| l.conn_id == conn_id) {
            st.link = None;
            st.generation += 1;
        }
        st.expiry = conn.expiry;
        if st.persisted && conn.expiry > 0 {
            inner.persist_session(&session.client_id, conn.expiry, Some(persist::now_ms()));
        }
        st.generation
    };
    // Publishers waiting for this subscriber's queue to drain go on: an
    // offline session no longer holds them up.
    session.room.notify_waiters();
    let cause = conn.cause.get().unwrap_or("CONNECTION_LOST");
    tracing::info!(client_id = %session.client_id, ?end, cause, "client disconnected");
    inner.event_disconnected(&conn.subject(), cause);
    if end == End::Abnormal {
        if let Some((will, delay)) = conn.will.take() {
            inner.schedule_will(&session, generation, will, delay, conn.expiry);
        }
    }
    inner.schedule_expiry(session, generation, conn.expiry);
    drop(closed);
    if end == End::Abnormal {
        // Lingering close. When we end the connection (DISCONNECT with a
        // reason code, keep-alive timeout, bad packet) the client may still
        // be sending, e.g. PUBRELs for the PUBRECs it is reading. Closing the
        // socket with unread input makes the kernel answer with RST, and the
        // client can then lose our DISCONNECT before reading it
        // [MQTT-4.13.2-1]. Our write half is already shut down (FIN sent):
        // discard input until the client closes too, for at most 2 s.
        // (On the heap, not in this task's future: an idle connection's
        // task should not carry a 4 KiB array it uses only at the very end.)
        let mut scratch = vec![0u8; 4096];
        let linger = async move {
            while let Ok(n) = rd.read(&mut scratch).await {
                if n == 0 {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), Box::pin(linger)).await;
    }
}

/// How long a publisher waits for a congested subscriber before that
/// subscriber is treated as stalled.
const SUBSCRIBER_PATIENCE: Duration = Duration::from_secs(10);

/// Smallest and largest read buffer. An idle connection holds the smallest
/// (thousands of idle devices are the common case); a busy one doubles its
/// buffer while reads keep filling it.
const READ_MIN: usize = 1024;
const READ_MAX: usize = 64 * 1024;

/// Make room for the next read of up to `want` bytes. When everything read
/// so far has been decoded, start a fresh buffer rather than keep the tail
/// of the old one: decoded payloads share that allocation, and a connection
/// that goes quiet should not pin it.
fn size_read_buffer(buf: &mut BytesMut, want: usize) {
    if buf.is_empty() {
        *buf = BytesMut::with_capacity(want);
    } else if buf.capacity() - buf.len() < READ_MIN {
        buf.reserve(want);
    }
}

/// Split a PUBLISH's or will's properties into the expiry instant and the
/// properties forwarded to subscribers.
fn message_properties(p: &Properties) -> (Option<Instant>, Properties) {
    if p.is_none() {
        return (None, Properties::default());
    }
    let expires_at = p
        .message_expiry_interval
        .map(|s| Instant::now() + Duration::from_secs(u64::from(s)));
    let forwarded = Properties::from(PropertySet {
        payload_format_indicator: p.payload_format_indicator,
        content_type: p.content_type.clone(),
        response_topic: p.response_topic.clone(),
        correlation_data: p.correlation_data.clone(),
        user_properties: p.user_properties.clone(),
        ..PropertySet::default()
    });
    (expires_at, forwarded)
}

impl Conn {
    fn send(&self, p: Packet) {
        self.outbox.push(p);
        self.session.notify.notify_one();
    }

    /// Tell an MQTT 5 client why we are closing (MQTT 3.1.1 has no way to).
    fn disconnect(&self, reason: ReasonCode) -> End {
        self.disconnect_because(reason, reason.text().to_owned())
    }

    /// As [`Conn::disconnect`], with a Reason String saying what went wrong.
    fn disconnect_because(&self, reason: ReasonCode, why: String) -> End {
        if self.cause.get().is_none() {
            self.cause.set(Some(match reason {
                ReasonCode::KeepAliveTimeout => "MQTT_KEEP_ALIVE_TIMEOUT",
                ReasonCode::NotAuthorized => "FORBIDDEN_ACCESS",
                ReasonCode::UnspecifiedError => "SERVER_ERROR",
                _ => "CLIENT_ERROR",
            }));
        }
        if self.version.is_v5() {
            let mut d = Disconnect::new(reason);
            d.properties.reason_string = Some(why);
            self.send(Packet::Disconnect(d));
        }
        End::Abnormal
    }

    async fn read_loop(
        &mut self,
        rd: &mut ReadHalf<impl AsyncRead>,
        buf: &mut BytesMut,
        control: &Control,
        keep_alive: u16,
    ) -> End {
        let max = self.inner.config.max_packet_size as usize;
        // [MQTT-3.1.2-22]: one and a half times the keep-alive.
        let idle = (keep_alive > 0).then(|| Duration::from_millis(u64::from(keep_alive) * 1500));
        let mut read_size = READ_MIN;
        loop {
            loop {
                match decode(buf, self.version, max) {
                    Ok(Some(p)) => {
                        if let Some(end) = self.handle(p) {
                            return end;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::info!(client_id = %self.session.client_id, error = %e, "bad packet");
                        return self.disconnect_because(e.reason_code(), e.to_string());
                    }
                }
            }
            // Backpressure: a subscriber is behind on messages this client
            // published. Stop reading from the publisher (TCP pushes back)
            // until that subscriber's queue drains, rather than drop what was
            // acknowledged.
            while let Some(sub) = self.congested.pop() {
                let max_queued = self.inner.config.max_queued_messages;
                tokio::select! {
                    drained = sub.wait_for_room(max_queued, SUBSCRIBER_PATIENCE) => if !drained {
                        tracing::warn!(client_id = %sub.client_id, "subscriber stopped reading; \
                            dropping its messages past the queue limit until it catches up");
                    },
                    reason = control.kicked() => return self.disconnect(reason),
                }
            }
            self.flush_store_ops();
            if let Some(end) = self.flush_acks() {
                return end;
            }
            // A client that never stops sending still gets taken over.
            if let Some(reason) = control.kick_reason() {
                return self.disconnect(reason);
            }
            size_read_buffer(buf, read_size);
            let offered = buf.capacity() - buf.len();
            let read = rd.read_buf(buf);
            let deadline = async {
                match idle {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            };
            let front = self.acks.front().and_then(|(c, _)| c.last().cloned());
            let committed = async {
                match front {
                    Some(c) => drop(c.wait().await),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                // Input first: a client that sent DISCONNECT and at once
                // reconnected (a takeover kick on this connection) must have
                // its DISCONNECT honoured, and its will discarded.
                biased;
                r = read => match r {
                    Ok(0) | Err(_) => return End::Abnormal,
                    // Reads that fill the buffer ask for a bigger one; small reads
                    // let it shrink back.
                    Ok(n) if n >= offered => read_size = (read_size * 2).min(READ_MAX),
                    Ok(n) if n < read_size / 4 => read_size = (read_size / 2).max(READ_MIN),
                    Ok(_) => {}
                },
                reason = control.kicked() => {
                    self.cause.set(Some(match reason {
                        ReasonCode::SessionTakenOver => "DUPLICATE_CLIENTID",
                        ReasonCode::NotAuthorized => "AUTH_ERROR",
                        _ => "SERVER_INITIATED_DISCONNECT",
                    }));
                    return self.disconnect(reason);
                }
                () = committed => {
                    if let Some(end) = self.flush_acks() {
                        return end;
                    }
                }
                _ = deadline => {
                    tracing::info!(client_id = %self.session.client_id, "keep-alive timeout");
                    return self.disconnect(ReasonCode::KeepAliveTimeout);
                }
            }
        }
    }

    /// Send the acks whose commits are done, in order. A failed commit
    /// refuses its ack: MQTT 5 says why in the reason code, an MQTT 3.1.1
    /// client (which has no way to hear it) is disconnected and resends.
    fn flush_acks(&mut self) -> Option<End> {
        while let Some((commits, _)) = self.acks.front() {
            let mut result = Ok(());
            for c in commits {
                match c.try_result() {
                    None => return None,
                    Some(Err(e)) => result = Err(e),
                    Some(Ok(())) => {}
                }
            }
            let (_, mut packet) = self.acks.pop_front().expect("front exists");
            if let Err(e) = result {
                tracing::warn!(client_id = %self.session.client_id, error = %e, "message not stored; not acknowledged");
                if !self.version.is_v5() {
                    self.cause.set(Some("SERVER_ERROR"));
                    return Some(End::Abnormal);
                }
                if let Packet::PubAck(a) | Packet::PubRec(a) = &mut packet {
                    a.reason = match e {
                        StoreError::Full(_) => ReasonCode::QuotaExceeded,
                        _ => ReasonCode::UnspecifiedError,
                    };
                    a.properties.reason_string = Some(format!("not stored: {e}"));
                    if let Packet::PubRec(a) = &packet {
                        // The flow ends with the refusal; no PUBREL follows.
                        self.session.lock().incoming_qos2.remove(&a.packet_id);
                    }
                }
            }
            self.send(packet);
        }
        None
    }

    fn flush_store_ops(&self) {
        let mut dequeued = self.store_ops.borrow_mut();
        if !dequeued.is_empty() {
            self.inner.persist(dequeued.drain(..));
        }
    }

    /// Acknowledge a PUBLISH once `commits` are durable (at once if none).
    fn ack_after(&mut self, commits: Vec<Commit>, packet: Packet) {
        if commits.is_empty() && self.acks.is_empty() {
            self.send(packet);
        } else {
            self.acks.push_back((commits, packet));
        }
    }

    /// An outgoing QoS 1/2 flow is complete: free its slot in the window and
    /// wake the writer if messages are waiting for that slot.
    fn finish_outgoing(&self, mut st: MutexGuard<'_, State>, packet_id: u16) {
        if let Some(f) = st.inflight.remove(&packet_id) {
            if let Some(seq) = f.out.stored {
                let client_id = self.session.client_id.clone();
                self.store_ops
                    .borrow_mut()
                    .push(Op::Dequeue { client_id, seq });
            }
        }
        let waiting = !st.queue.is_empty();
        drop(st);
        if waiting {
            self.session.notify.notify_one();
        }
    }

    /// Handle one packet; Some(end) closes the connection.
    fn handle(&mut self, p: Packet) -> Option<End> {
        match p {
            Packet::Publish(p) => return self.publish(p),
            Packet::PubAck(a) => {
                let st = self.session.lock();
                if st
                    .inflight
                    .get(&a.packet_id)
                    .is_some_and(|f| f.out.qos == QoS::AtLeastOnce)
                {
                    self.finish_outgoing(st, a.packet_id);
                }
            }
            Packet::PubRec(a) => {
                let mut st = self.session.lock();
                let known = match st.inflight.get_mut(&a.packet_id) {
                    Some(f) if f.out.qos == QoS::ExactlyOnce => {
                        f.phase = Phase::Released;
                        if let (Some(seq), false) = (f.out.stored, a.reason.is_error()) {
                            let record = InFlightRecord {
                                seq,
                                packet_id: a.packet_id,
                                released: true,
                            };
                            let client_id = self.session.client_id.clone();
                            self.store_ops
                                .borrow_mut()
                                .push(Op::InFlight { client_id, record });
                        }
                        true
                    }
                    _ => false,
                };
                if known && a.reason.is_error() {
                    // The receiver refused the message: the flow ends here.
                    self.finish_outgoing(st, a.packet_id);
                    return None;
                }
                drop(st);
                let mut rel = Ack::new(a.packet_id);
                if !known {
                    rel.reason = ReasonCode::PacketIdentifierNotFound;
                }
                self.send(Packet::PubRel(rel));
            }
            Packet::PubComp(a) => {
                let st = self.session.lock();
                if st
                    .inflight
                    .get(&a.packet_id)
                    .is_some_and(|f| f.phase == Phase::Released)
                {
                    self.finish_outgoing(st, a.packet_id);
                }
            }
            Packet::PubRel(a) => {
                let found = self.session.lock().incoming_qos2.remove(&a.packet_id);
                let mut comp = Ack::new(a.packet_id);
                if !found {
                    comp.reason = ReasonCode::PacketIdentifierNotFound;
                }
                self.send(Packet::PubComp(comp));
            }
            Packet::Subscribe(s) => return self.subscribe(s),
            Packet::Unsubscribe(u) => self.unsubscribe(u),
            Packet::PingReq => self.send(Packet::PingResp),
            Packet::Disconnect(d) => {
                if let Some(e) = d.properties.session_expiry_interval {
                    if self.connect_expiry_zero && e != 0 {
                        // [MQTT-3.14.2-2]
                        return Some(self.disconnect(ReasonCode::ProtocolError));
                    }
                    self.expiry = e.min(self.inner.config.max_session_expiry);
                }
                self.cause.set(Some("CLIENT_INITIATED_DISCONNECT"));
                return Some(if d.reason == ReasonCode::Success {
                    End::Normal
                } else {
                    End::Abnormal
                });
            }
            Packet::Connect(_) => return Some(self.disconnect(ReasonCode::ProtocolError)),
            Packet::Auth(_) => return Some(self.disconnect(ReasonCode::ProtocolError)),
            Packet::ConnAck(_) | Packet::SubAck(_) | Packet::UnsubAck(_) | Packet::PingResp => {
                return Some(self.disconnect(ReasonCode::ProtocolError));
            }
        }
        None
    }

    fn publish(&mut self, mut p: Publish) -> Option<End> {
        let cfg = &self.inner.config;
        let v5 = self.version.is_v5();
        // Topic aliases (client → server).
        if let Some(alias) = p.properties.get_mut().and_then(|s| s.topic_alias.take()) {
            let index = usize::from(alias) - 1;
            if alias > cfg.topic_alias_maximum {
                return Some(self.disconnect(ReasonCode::TopicAliasInvalid));
            }
            // Grown on first use: most clients never send an alias.
            if self.aliases.len() <= index {
                self.aliases.resize(index + 1, None);
            }
            let slot = &mut self.aliases[index];
            if p.topic.is_empty() {
                match slot {
                    Some(t) => p.topic = t.clone(),
                    None => return Some(self.disconnect(ReasonCode::ProtocolError)),
                }
            } else {
                *slot = Some(p.topic.clone());
            }
        }
        if p.qos == QoS::ExactlyOnce && cfg.compat == Compat::AwsStrict {
            return Some(self.disconnect(ReasonCode::QosNotSupported));
        }
        if p.retain && !cfg.retain_available {
            return Some(self.disconnect(ReasonCode::RetainNotSupported));
        }
        if cfg
            .max_payload_size
            .is_some_and(|m| p.payload.len() > m as usize)
        {
            return Some(self.disconnect(ReasonCode::PacketTooLarge));
        }
        if v5
            && p.properties.payload_format_indicator == Some(1)
            && std::str::from_utf8(&p.payload).is_err()
        {
            if p.qos == QoS::AtMostOnce {
                return Some(self.disconnect(ReasonCode::PayloadFormatInvalid));
            }
            let mut ack = Ack::new(p.packet_id);
            ack.reason = ReasonCode::PayloadFormatInvalid;
            self.send(if p.qos == QoS::AtLeastOnce {
                Packet::PubAck(ack)
            } else {
                Packet::PubRec(ack)
            });
            return None;
        }
        if let Some(perms) = &self.perms {
            let topic = std::str::from_utf8(&p.topic).unwrap_or("");
            if !perms.may_publish(topic, p.retain) {
                tracing::info!(client_id = %self.session.client_id, topic, "PUBLISH not authorized");
                // AWS IoT: MQTT 3.1.1 loses the connection; MQTT 5 gets the
                // reason code (nothing for QoS 0).
                if !v5 {
                    return Some(self.disconnect(ReasonCode::NotAuthorized));
                }
                if p.qos != QoS::AtMostOnce {
                    let mut ack = Ack::new(p.packet_id);
                    ack.reason = ReasonCode::NotAuthorized;
                    self.send(if p.qos == QoS::AtLeastOnce {
                        Packet::PubAck(ack)
                    } else {
                        Packet::PubRec(ack)
                    });
                }
                return None;
            }
        }
        if p.qos == QoS::ExactlyOnce {
            let mut st = self.session.lock();
            if st.incoming_qos2.contains(&p.packet_id) {
                // A redelivery of a message we already have: acknowledge only.
                drop(st);
                self.send(Packet::PubRec(Ack::new(p.packet_id)));
                return None;
            }
            if st.incoming_qos2.len() >= usize::from(cfg.receive_maximum) {
                drop(st);
                return Some(self.disconnect(ReasonCode::ReceiveMaximumExceeded));
            }
            st.incoming_qos2.insert(p.packet_id);
        }
        // A request to one of Kumo's services (`$aws/...` only: ordinary
        // topics never pay for the lookup).
        let taken = p.topic.first() == Some(&b'$')
            && self.inner.service.get().is_some_and(|svc| {
                svc.offer(&crate::service::Request {
                    topic: std::str::from_utf8(&p.topic).unwrap_or(""),
                    payload: &p.payload,
                    connection: self.conn_id,
                    client_id: &self.session.client_id,
                })
            });
        let (expires_at, props) = message_properties(&p.properties);
        let msg = Message::published_by(
            p.topic,
            p.payload,
            p.qos,
            p.retain,
            props,
            expires_at,
            self.session.id,
            (self.inner.publisher_ids_wanted.load(Ordering::Relaxed) > 0)
                .then(|| self.session.client_id.clone()),
        );
        let mut commits = Vec::new();
        let delivered = self
            .inner
            .publish_from(msg, &mut self.congested, &mut commits);
        let mut ack = Ack::new(p.packet_id);
        if delivered == 0 && v5 && !taken {
            ack.reason = ReasonCode::NoMatchingSubscribers;
        }
        match p.qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => self.ack_after(commits, Packet::PubAck(ack)),
            QoS::ExactlyOnce => self.ack_after(commits, Packet::PubRec(ack)),
        }
        None
    }

    fn subject(&self) -> events::Subject<'_> {
        events::Subject {
            client_id: &self.session.client_id,
            session_id: &self.session_identifier,
            principal: self.principal.as_deref(),
            version: self.conn_id,
        }
    }
}
