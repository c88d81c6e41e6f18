//! Queued messages, stored in blocks.
//!
//! A row per queued message costs an insert and a delete, each in two
//! B-trees, and that is what bounds QoS 1 throughput to persistent sessions.
//! So a batch's messages for one session go into one `queued_block` row, and
//! an acknowledged message only adds its `seq` to `dequeued` (an integer
//! primary key, nothing else). When every message of a block is dequeued,
//! the block and its `dequeued` rows go. Which block holds which `seq`, and
//! how many of its messages are still live, is kept here in memory; it is
//! rebuilt from the tables at load (and after a failed transaction).
//!
//! An acknowledgement need not be durable (losing one only means the
//! message is delivered again: at least once), so `dequeued` rows are
//! written [`DEQUEUE_DEFER`] late, and never when the block drains first —
//! the common case for a connected subscriber. After a crash, messages
//! acknowledged in that last window may be delivered again.
//!
//! Record format (little endian), repeated: seq u64, qos u8, retain u8,
//! sub-id count u16, sub ids u32 each, expiry flag u8 (+ u64 ms), packet
//! length u32, packet bytes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use rusqlite::{params, Connection};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::{InFlightRecord, QueuedRecord, StoredMessage};

/// How long an acknowledgement waits before its `dequeued` row is written.
pub(super) const DEQUEUE_DEFER: Duration = Duration::from_millis(100);

struct Block {
    client_id: Arc<str>,
    /// Seqs whose `dequeued` rows exist (deleted with the block).
    written: Vec<u64>,
    /// Seqs whose `sent` rows exist (deleted with the block).
    sent: Vec<u64>,
    /// How many of its messages are neither dequeued nor expired.
    live: usize,
}

/// Each client's live queued records, in seq order.
pub(super) type Queues = HashMap<Arc<str>, Vec<QueuedRecord>>;

#[derive(Default)]
pub(super) struct Blocks {
    blocks: HashMap<i64, Block>,
    block_of: HashMap<u64, i64>,
    next: i64,
    /// Acknowledgements and packet ids whose rows are not written yet.
    deferred: VecDeque<(Instant, i64, Deferred)>,
}

#[derive(Clone, Copy)]
enum Deferred {
    Dequeued(u64),
    InFlight(InFlightRecord),
}

/// Each client's in-flight records, in seq order.
pub(super) type Inflights = HashMap<Arc<str>, Vec<InFlightRecord>>;

impl Blocks {
    /// Write one block with `records` (in seq order) for `client_id`.
    pub(super) fn insert(
        &mut self,
        conn: &Connection,
        client_id: Arc<str>,
        records: &[QueuedRecord],
    ) -> rusqlite::Result<()> {
        let id = self.next;
        self.next += 1;
        conn.prepare_cached(
            "INSERT INTO queued_block (block, client_id, records) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![id, &*client_id, encode(records)])?;
        for r in records {
            self.block_of.insert(r.seq, id);
        }
        self.blocks.insert(
            id,
            Block {
                client_id,
                live: records.len(),
                written: Vec::new(),
                sent: Vec::new(),
            },
        );
        Ok(())
    }

    /// A stored message was delivered (or dropped). Unknown seqs are ignored.
    pub(super) fn dequeue(
        &mut self,
        conn: &Connection,
        seq: u64,
        now: Instant,
    ) -> rusqlite::Result<()> {
        let Some(id) = self.block_of.remove(&seq) else {
            return Ok(());
        };
        let Some(block) = self.blocks.get_mut(&id) else {
            return Ok(());
        };
        block.live = block.live.saturating_sub(1);
        if block.live == 0 {
            self.drop_block(conn, id)
        } else {
            self.deferred.push_back((now, id, Deferred::Dequeued(seq)));
            Ok(())
        }
    }

    /// A stored message went out with a packet id (written late, like acks).
    pub(super) fn inflight(&mut self, record: InFlightRecord, now: Instant) {
        if let Some(&id) = self.block_of.get(&record.seq) {
            self.deferred
                .push_back((now, id, Deferred::InFlight(record)));
        }
    }

    pub(super) fn has_deferred(&self) -> bool {
        !self.deferred.is_empty()
    }

    /// Write the `dequeued` rows of acknowledgements made before `cutoff`
    /// (all of them with `None`) whose blocks are still there.
    pub(super) fn write_deferred(
        &mut self,
        conn: &Connection,
        cutoff: Option<Instant>,
    ) -> rusqlite::Result<()> {
        while let Some(&(at, id, what)) = self.deferred.front() {
            if cutoff.is_some_and(|c| at > c) {
                break;
            }
            self.deferred.pop_front();
            let Some(block) = self.blocks.get_mut(&id) else {
                continue;
            };
            match what {
                Deferred::Dequeued(seq) => {
                    conn.prepare_cached("INSERT OR IGNORE INTO dequeued (seq) VALUES (?1)")?
                        .execute([seq as i64])?;
                    block.written.push(seq);
                }
                Deferred::InFlight(f) => {
                    if self.block_of.get(&f.seq) != Some(&id) {
                        continue; // acknowledged meanwhile
                    }
                    conn.prepare_cached(
                        "INSERT OR REPLACE INTO sent (seq, packet_id, released) VALUES (?1, ?2, ?3)",
                    )?
                    .execute(params![f.seq as i64, f.packet_id, f.released])?;
                    block.sent.push(f.seq);
                }
            }
        }
        Ok(())
    }

    /// Forget every queued message of a client.
    pub(super) fn delete_client(
        &mut self,
        conn: &Connection,
        client_id: &str,
    ) -> rusqlite::Result<()> {
        let ids: Vec<i64> = self
            .blocks
            .iter()
            .filter(|(_, b)| &*b.client_id == client_id)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.drop_block(conn, id)?;
        }
        Ok(())
    }

    fn drop_block(&mut self, conn: &Connection, id: i64) -> rusqlite::Result<()> {
        let Some(block) = self.blocks.remove(&id) else {
            return Ok(());
        };
        if block.live > 0 {
            // Dropped with live messages (its session ended): unmap them.
            self.block_of.retain(|_, b| *b != id);
        }
        conn.prepare_cached("DELETE FROM queued_block WHERE block = ?1")?
            .execute([id])?;
        let mut del = conn.prepare_cached("DELETE FROM dequeued WHERE seq = ?1")?;
        for seq in block.written {
            del.execute([seq as i64])?;
        }
        let mut del = conn.prepare_cached("DELETE FROM sent WHERE seq = ?1")?;
        for seq in block.sent {
            del.execute([seq as i64])?;
        }
        Ok(())
    }

    /// Read the tables (inside the caller's transaction): drop blocks of
    /// clients without a session, blocks with nothing live left and stray
    /// `dequeued` rows; return the live records of each client, in seq order.
    /// Messages expired by `now_ms` are left out (and count as not live).
    pub(super) fn read(
        conn: &Connection,
        now_ms: u64,
    ) -> Result<(Blocks, Queues, Inflights), ReadError> {
        conn.execute(
            "DELETE FROM queued_block WHERE client_id NOT IN (SELECT client_id FROM session)",
            [],
        )?;
        let dequeued: HashSet<u64> = conn
            .prepare("SELECT seq FROM dequeued")?
            .query_map([], |r| r.get::<_, i64>(0))?
            .map(|r| r.map(|s| s as u64))
            .collect::<rusqlite::Result<_>>()?;
        let sent: HashMap<u64, (u16, bool)> = conn
            .prepare("SELECT seq, packet_id, released FROM sent")?
            .query_map([], |r| {
                Ok((r.get::<_, i64>(0)? as u64, (r.get(1)?, r.get(2)?)))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let mut inflights: Inflights = HashMap::new();
        let mut kept_sent: HashSet<u64> = HashSet::new();
        let rows: Vec<(i64, Arc<str>, Vec<u8>)> = conn
            .prepare("SELECT block, client_id, records FROM queued_block ORDER BY block")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut blocks = Blocks::default();
        let mut queues: HashMap<Arc<str>, Vec<QueuedRecord>> = HashMap::new();
        let mut kept_dequeued: HashSet<u64> = HashSet::new();
        for (id, client_id, blob) in rows {
            blocks.next = blocks.next.max(id + 1);
            let records =
                decode(&blob).map_err(|e| ReadError::Corrupt(format!("queued block {id}: {e}")))?;
            let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
            let live: Vec<QueuedRecord> = records
                .into_iter()
                .filter(|r| !dequeued.contains(&r.seq) && !r.message.is_expired(now_ms))
                .collect();
            if live.is_empty() {
                conn.execute("DELETE FROM queued_block WHERE block = ?1", [id])?;
                continue;
            }
            kept_dequeued.extend(seqs.iter().filter(|s| dequeued.contains(s)));
            for r in &live {
                blocks.block_of.insert(r.seq, id);
                if let Some(&(packet_id, released)) = sent.get(&r.seq) {
                    inflights
                        .entry(client_id.clone())
                        .or_default()
                        .push(InFlightRecord {
                            seq: r.seq,
                            packet_id,
                            released,
                        });
                }
            }
            let block_sent: Vec<u64> = seqs
                .iter()
                .copied()
                .filter(|s| sent.contains_key(s))
                .collect();
            kept_sent.extend(&block_sent);
            blocks.blocks.insert(
                id,
                Block {
                    client_id: client_id.clone(),
                    written: seqs
                        .iter()
                        .copied()
                        .filter(|s| dequeued.contains(s))
                        .collect(),
                    sent: block_sent,
                    live: live.len(),
                },
            );
            queues.entry(client_id).or_default().extend(live);
        }
        let mut del = conn.prepare("DELETE FROM dequeued WHERE seq = ?1")?;
        for seq in dequeued.difference(&kept_dequeued) {
            del.execute([*seq as i64])?;
        }
        let mut del = conn.prepare("DELETE FROM sent WHERE seq = ?1")?;
        for seq in sent.keys().filter(|s| !kept_sent.contains(s)) {
            del.execute([*seq as i64])?;
        }
        for q in queues.values_mut() {
            q.sort_by_key(|r| r.seq);
        }
        for f in inflights.values_mut() {
            f.sort_by_key(|r| r.seq);
        }
        Ok((blocks, queues, inflights))
    }
}

pub(super) enum ReadError {
    Sql(rusqlite::Error),
    Corrupt(String),
}

impl From<rusqlite::Error> for ReadError {
    fn from(e: rusqlite::Error) -> Self {
        ReadError::Sql(e)
    }
}

/// The fuzz target's body (`fuzz/fuzz_targets/store_queued_block.rs`):
/// decoding arbitrary bytes never panics, and whatever decodes encodes back
/// to the same bytes.
pub fn fuzz_check(data: &[u8]) {
    if let Ok(records) = decode(data) {
        assert_eq!(encode(&records), data, "decode/encode is not a round trip");
    }
}

pub(super) fn encode(records: &[QueuedRecord]) -> Vec<u8> {
    let size: usize = records
        .iter()
        .map(|r| 25 + 4 * r.sub_ids.len() + r.message.packet.len())
        .sum();
    let mut out = Vec::with_capacity(size);
    for r in records {
        out.extend_from_slice(&r.seq.to_le_bytes());
        out.push(r.qos);
        out.push(u8::from(r.retain));
        out.extend_from_slice(&(r.sub_ids.len().min(u16::MAX as usize) as u16).to_le_bytes());
        for id in r.sub_ids.iter().take(u16::MAX as usize) {
            out.extend_from_slice(&id.to_le_bytes());
        }
        match r.message.expires_at {
            Some(at) => {
                out.push(1);
                out.extend_from_slice(&at.to_le_bytes());
            }
            None => out.push(0),
        }
        out.extend_from_slice(&(r.message.packet.len() as u32).to_le_bytes());
        out.extend_from_slice(&r.message.packet);
    }
    out
}

pub(super) fn decode(mut b: &[u8]) -> Result<Vec<QueuedRecord>, String> {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
        if b.len() < n {
            return Err(format!(
                "truncated record ({} bytes left, {n} needed)",
                b.len()
            ));
        }
        let (head, rest) = b.split_at(n);
        *b = rest;
        Ok(head)
    }
    let u64_ = |b: &mut &[u8]| take(b, 8).map(|s| u64::from_le_bytes(s.try_into().unwrap()));
    let mut out = Vec::new();
    while !b.is_empty() {
        let seq = u64_(&mut b)?;
        let head = take(&mut b, 4)?;
        let (qos, retain, n) = (
            head[0],
            head[1] != 0,
            u16::from_le_bytes([head[2], head[3]]) as usize,
        );
        if qos > 2 || head[1] > 1 {
            return Err(format!("record {seq}: bad QoS or RETAIN byte"));
        }
        let ids = take(&mut b, 4 * n)?;
        let sub_ids = ids
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        let expires_at = match take(&mut b, 1)?[0] {
            0 => None,
            1 => Some(u64_(&mut b)?),
            f => return Err(format!("record {seq}: bad expiry flag {f}")),
        };
        let len = u32::from_le_bytes(take(&mut b, 4)?.try_into().unwrap()) as usize;
        let packet = Bytes::copy_from_slice(take(&mut b, len)?);
        out.push(QueuedRecord {
            seq,
            qos,
            retain,
            sub_ids,
            message: StoredMessage { packet, expires_at },
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_truncation_is_an_error() {
        let records = vec![
            QueuedRecord {
                seq: 7,
                qos: 1,
                retain: false,
                sub_ids: vec![],
                message: StoredMessage {
                    packet: Bytes::from_static(b"abc"),
                    expires_at: None,
                },
            },
            QueuedRecord {
                seq: u64::MAX,
                qos: 2,
                retain: true,
                sub_ids: vec![1, 268_435_455],
                message: StoredMessage {
                    packet: Bytes::new(),
                    expires_at: Some(42),
                },
            },
        ];
        let blob = encode(&records);
        assert_eq!(decode(&blob).unwrap(), records);
        for i in 0..blob.len() {
            let mut flipped = blob.clone();
            flipped[i] ^= 0x5A;
            fuzz_check(&flipped);
        }
        let first = encode(&records[..1]).len();
        for cut in (1..blob.len()).filter(|&c| c != first) {
            assert!(decode(&blob[..cut]).is_err(), "cut at {cut} decoded");
        }
    }
}
