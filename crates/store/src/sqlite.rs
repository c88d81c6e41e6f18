//! The embedded default: one SQLite file (`kumo.db`) in WAL mode under the
//! data directory.
//!
//! Why rusqlite and not sqlx: the store has exactly one writer, a dedicated
//! thread doing group commit, so an async pool buys nothing; rusqlite is a
//! thin, synchronous binding with the `bundled` SQLite (nothing to install,
//! one known SQLite version everywhere) and a much smaller dependency tree.
//!
//! Durability: `journal_mode = WAL`, `synchronous = FULL`: a transaction is
//! on disk (WAL fsynced) when `COMMIT` returns.
//!
//! The file is ours only if its `application_id` says so. Anything else in
//! its place (another program's database, a text file, a truncated file) is
//! refused at open and never written to. The schema version lives in
//! `user_version`; [`MIGRATIONS`] upgrade older files in place.

mod blocks;

/// For the fuzz target only.
#[doc(hidden)]
pub use blocks::fuzz_check as fuzz_check_queued_block;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

use bytes::Bytes;
use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension, Transaction};

use crate::model::LoadedSession;
use crate::{
    Backend, Op, QueuedRecord, Record, RetainedRecord, SessionRecord, ShadowRecord, Snapshot,
    StoreError, StoredMessage, SubscriptionRecord, WillRecord,
};
use blocks::{Blocks, ReadError};

/// `application_id` of a Kumo store: "KUMO" in ASCII.
pub const APPLICATION_ID: i32 = 0x4B55_4D4F;

/// Schema migrations: `MIGRATIONS[n]` takes a file from version `n` to `n + 1`.
/// Public for the tests that build files of older versions.
/// Append only; never edit one that has shipped.
pub const MIGRATIONS: &[&str] = &[
    // 0 -> 1: sessions, their subscriptions, queues and wills; retained messages.
    "CREATE TABLE session (
         client_id       TEXT PRIMARY KEY,
         expiry          INTEGER NOT NULL,
         disconnected_at INTEGER
     ) WITHOUT ROWID;
     CREATE TABLE subscription (
         client_id TEXT NOT NULL,
         filter    TEXT NOT NULL,
         options   INTEGER NOT NULL,
         sub_id    INTEGER,
         PRIMARY KEY (client_id, filter)
     ) WITHOUT ROWID;
     CREATE TABLE queued_block (
         block     INTEGER PRIMARY KEY,
         client_id TEXT NOT NULL,
         records   BLOB NOT NULL
     );
     CREATE INDEX queued_block_by_client ON queued_block (client_id);
     CREATE TABLE dequeued (
         seq INTEGER PRIMARY KEY
     );
     CREATE TABLE sent (
         seq       INTEGER PRIMARY KEY,
         packet_id INTEGER NOT NULL,
         released  INTEGER NOT NULL
     );
     CREATE TABLE will (
         client_id  TEXT PRIMARY KEY,
         at         INTEGER NOT NULL,
         packet     BLOB NOT NULL,
         expires_at INTEGER
     ) WITHOUT ROWID;
     CREATE TABLE retained (
         topic      TEXT PRIMARY KEY,
         packet     BLOB NOT NULL,
         expires_at INTEGER
     ) WITHOUT ROWID;",
    // 1 -> 2: registry records (things, certificates, policies, ...).
    "CREATE TABLE record (
         kind  TEXT NOT NULL,
         key   TEXT NOT NULL,
         value BLOB NOT NULL,
         PRIMARY KEY (kind, key)
     ) WITHOUT ROWID;",
    // 2 -> 3: device shadows. `name` is empty for the classic shadow;
    // `document` is NULL once deleted (the version is kept).
    "CREATE TABLE shadow (
         thing    TEXT NOT NULL,
         name     TEXT NOT NULL,
         version  INTEGER NOT NULL,
         document BLOB,
         PRIMARY KEY (thing, name)
     ) WITHOUT ROWID;",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The first 16 bytes of every SQLite database file.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

pub struct SqliteBackend {
    conn: Connection,
    path: PathBuf,
    /// Where each queued message lives (see `blocks.rs`).
    blocks: Blocks,
}

impl Drop for SqliteBackend {
    /// A backend dropped without [`Backend::close`] still writes what it
    /// deferred (best effort: a failure here only means redelivery).
    fn drop(&mut self) {
        let _ = self.write_deferred(None);
    }
}

impl std::fmt::Debug for SqliteBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteBackend")
            .field("path", &self.path)
            .finish()
    }
}

impl SqliteBackend {
    /// The store file inside a data directory.
    pub fn file_in(data_dir: &Path) -> PathBuf {
        data_dir.join("kumo.db")
    }

    /// Open (or create) the store at `path`, upgrading its schema in place.
    pub fn open(path: &Path) -> Result<SqliteBackend, StoreError> {
        let shown = path.display().to_string();
        let foreign = |detail: String| StoreError::Foreign {
            path: shown.clone(),
            detail,
        };
        // Look before SQLite touches it: SQLite would happily turn an empty
        // or unrelated file into a database, or fail with a vague message.
        match std::fs::read(path).map(|b| b.len()) {
            Ok(0) => return Err(foreign("the file is empty".into())),
            Ok(_) => {
                let mut head = [0u8; 16];
                use std::io::Read;
                let n = std::fs::File::open(path)
                    .and_then(|mut f| f.read(&mut head))
                    .map_err(|e| StoreError::Io(format!("{shown}: {e}")))?;
                if n < 16 || &head != SQLITE_MAGIC {
                    return Err(foreign("it is not an SQLite database".into()));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::Io(format!("{shown}: {e}"))),
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| map_err(&shown, e))?;
        let mut backend = SqliteBackend {
            conn,
            path: path.to_path_buf(),
            blocks: Blocks::default(),
        };
        backend.check_and_migrate()?;
        Ok(backend)
    }

    /// Cap the file at about `bytes` (rounded down to whole pages). Writes
    /// that would grow it further fail with [`StoreError::Full`], exactly as
    /// a full disk does; `None` lifts the cap.
    pub fn set_max_size(&mut self, bytes: Option<u64>) -> Result<(), StoreError> {
        let page: i64 = self
            .conn
            .pragma_query_value(None, "page_size", |r| r.get(0))
            .map_err(|e| self.err(e))?;
        let pages = match bytes {
            Some(b) => (b / page.max(1) as u64).clamp(1, i64::MAX as u64) as i64,
            None => 0xFFFF_FFFE, // SQLite's default maximum
        };
        self.conn
            .pragma_update(None, "max_page_count", pages)
            .map_err(|e| self.err(e))
    }

    /// Write deferred `dequeued` rows from before `cutoff` (all with `None`).
    fn write_deferred(&mut self, cutoff: Option<Instant>) -> Result<(), StoreError> {
        if !self.blocks.has_deferred() {
            return Ok(());
        }
        let shown = self.path.display().to_string();
        let tx = self.conn.transaction().map_err(|e| map_err(&shown, e))?;
        self.blocks
            .write_deferred(&tx, cutoff)
            .map_err(|e| map_err(&shown, e))?;
        tx.commit().map_err(|e| map_err(&shown, e))
    }

    fn err(&self, e: rusqlite::Error) -> StoreError {
        map_err(&self.path.display().to_string(), e)
    }

    fn check_and_migrate(&mut self) -> Result<(), StoreError> {
        let shown = self.path.display().to_string();
        let app_id: i32 = self
            .conn
            .pragma_query_value(None, "application_id", |r| r.get(0))
            .map_err(|e| self.err(e))?;
        let version: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(|e| self.err(e))?;
        let tables: i64 = self
            .conn
            .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        let fresh = app_id == 0 && version == 0 && tables == 0;
        if !fresh && app_id != APPLICATION_ID {
            return Err(StoreError::Foreign {
                path: shown,
                detail: format!(
                    "an SQLite database of another application (application_id {app_id:#x})"
                ),
            });
        }
        if version > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                path: shown,
                found: version,
                known: SCHEMA_VERSION,
            });
        }
        self.conn
            .busy_timeout(Duration::from_secs(5))
            .map_err(|e| self.err(e))?;
        let mode: String = self
            .conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(|e| self.err(e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Io(format!(
                "{shown}: cannot switch to WAL mode (got {mode})"
            )));
        }
        self.conn
            .pragma_update(None, "synchronous", "FULL")
            .map_err(|e| self.err(e))?;
        for (from, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = self.conn.transaction().map_err(|e| map_err(&shown, e))?;
            tx.execute_batch(sql).map_err(|e| map_err(&shown, e))?;
            tx.pragma_update(None, "application_id", APPLICATION_ID)
                .map_err(|e| map_err(&shown, e))?;
            tx.pragma_update(None, "user_version", from as i64 + 1)
                .map_err(|e| map_err(&shown, e))?;
            tx.commit().map_err(|e| map_err(&shown, e))?;
            tracing::info!(path = %shown, version = from + 1, "store schema migrated");
        }
        Ok(())
    }
}

fn map_err(path: &str, e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(f, _) = &e {
        match f.code {
            ErrorCode::DiskFull => return StoreError::Full(format!("{path}: {e}")),
            ErrorCode::NotADatabase => {
                return StoreError::Foreign {
                    path: path.into(),
                    detail: e.to_string(),
                }
            }
            ErrorCode::DatabaseCorrupt => {
                return StoreError::Corrupt {
                    path: path.into(),
                    detail: e.to_string(),
                }
            }
            _ => {}
        }
    }
    StoreError::Io(format!("{path}: {e}"))
}

fn ms(v: Option<u64>) -> Option<i64> {
    v.map(|v| v.min(i64::MAX as u64) as i64)
}

fn message(packet: Vec<u8>, expires_at: Option<i64>) -> StoredMessage {
    StoredMessage {
        packet: Bytes::from(packet),
        expires_at: expires_at.map(|v| v.max(0) as u64),
    }
}

/// Apply a batch inside `tx`. A batch's messages for one session become one
/// block, written after the other ops; a message dequeued in the same batch
/// never reaches it.
fn apply_batch(tx: &Transaction<'_>, blocks: &mut Blocks, ops: &[Op]) -> rusqlite::Result<()> {
    let now = Instant::now();
    let mut open: Vec<(Arc<str>, Vec<QueuedRecord>)> = Vec::new();
    // Applied once this batch's blocks exist (they may refer to them).
    let mut sent = Vec::new();
    for op in ops {
        match op {
            Op::Enqueue { client_id, record } => {
                match open.iter_mut().find(|(c, _)| c == client_id) {
                    Some((_, records)) => records.push(record.clone()),
                    None => open.push((client_id.clone(), vec![record.clone()])),
                }
            }
            Op::Dequeue { client_id, seq } => {
                let pending =
                    open.iter_mut()
                        .find(|(c, _)| c == client_id)
                        .and_then(|(_, records)| {
                            records
                                .iter()
                                .position(|r| r.seq == *seq)
                                .map(|i| (records, i))
                        });
                match pending {
                    Some((records, i)) => {
                        records.remove(i);
                    }
                    None => blocks.dequeue(tx, *seq, now)?,
                }
            }
            Op::InFlight { record, .. } => sent.push(*record),
            Op::SessionDelete { client_id } => {
                open.retain(|(c, _)| c != client_id);
                blocks.delete_client(tx, client_id)?;
                apply_one(tx, op)?;
            }
            _ => apply_one(tx, op)?,
        }
    }
    for (client_id, mut records) in open {
        if !records.is_empty() {
            records.sort_by_key(|r| r.seq);
            blocks.insert(tx, client_id, &records)?;
        }
    }
    for record in sent {
        blocks.inflight(record, now);
    }
    blocks.write_deferred(tx, now.checked_sub(blocks::DEQUEUE_DEFER))
}

fn apply_one(tx: &Transaction<'_>, op: &Op) -> rusqlite::Result<()> {
    match op {
        Op::SessionPut(s) => {
            tx.prepare_cached(
                "INSERT INTO session (client_id, expiry, disconnected_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (client_id) DO UPDATE SET expiry = ?2, disconnected_at = ?3",
            )?
            .execute(params![s.client_id, s.expiry, ms(s.disconnected_at)])?;
        }
        Op::SessionDelete { client_id } => {
            // (Its queued blocks: `apply_batch`.)
            for table in ["session", "subscription", "will"] {
                tx.prepare_cached(&format!("DELETE FROM {table} WHERE client_id = ?1"))?
                    .execute([client_id])?;
            }
        }
        Op::Subscribe { client_id, sub } => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO subscription (client_id, filter, options, sub_id) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![client_id, sub.filter, sub.options, sub.id])?;
        }
        Op::Unsubscribe { client_id, filter } => {
            tx.prepare_cached("DELETE FROM subscription WHERE client_id = ?1 AND filter = ?2")?
                .execute(params![client_id, filter])?;
        }
        Op::Enqueue { .. } | Op::Dequeue { .. } | Op::InFlight { .. } => {
            unreachable!("queue ops are applied by apply_batch")
        }
        Op::WillSet { client_id, will } => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO will (client_id, at, packet, expires_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                client_id,
                ms(Some(will.at)),
                &will.message.packet[..],
                ms(will.message.expires_at)
            ])?;
        }
        Op::WillClear { client_id } => {
            tx.prepare_cached("DELETE FROM will WHERE client_id = ?1")?
                .execute([client_id])?;
        }
        Op::RetainSet(r) => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO retained (topic, packet, expires_at) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![
                r.topic,
                &r.message.packet[..],
                ms(r.message.expires_at)
            ])?;
        }
        Op::RetainClear { topic } => {
            tx.prepare_cached("DELETE FROM retained WHERE topic = ?1")?
                .execute([topic])?;
        }
        Op::RecordPut(r) => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO record (kind, key, value) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![r.kind, r.key, &r.value[..]])?;
        }
        Op::RecordDelete { kind, key } => {
            tx.prepare_cached("DELETE FROM record WHERE kind = ?1 AND key = ?2")?
                .execute(params![kind, key])?;
        }
        Op::ShadowPut(r) => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO shadow (thing, name, version, document) \
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                r.thing,
                r.name,
                r.version as i64,
                r.document.as_deref()
            ])?;
        }
    }
    Ok(())
}

impl Backend for SqliteBackend {
    fn load(&mut self, now_ms: u64) -> Result<Snapshot, StoreError> {
        let shown = self.path.display().to_string();
        let now = ms(Some(now_ms)).unwrap_or(i64::MAX);
        let tx = self.conn.transaction().map_err(|e| map_err(&shown, e))?;
        let load = || -> Result<(Snapshot, Blocks), ReadError> {
            let mut snapshot = Snapshot::default();
            // Sessions whose client stayed away past their expiry (a session
            // still marked connected counts as disconnected now).
            let expired = "SELECT client_id FROM session WHERE expiry != 4294967295
                           AND coalesce(disconnected_at, ?1) + expiry * 1000 <= ?1";
            {
                let mut st = tx.prepare(&format!(
                    "SELECT at, packet, expires_at FROM will WHERE client_id IN ({expired}) ORDER BY at, client_id"
                ))?;
                let rows = st.query_map([now], |r| {
                    Ok(WillRecord {
                        at: r.get::<_, i64>(0)?.max(0) as u64,
                        message: message(r.get(1)?, r.get(2)?),
                    })
                })?;
                for w in rows {
                    snapshot.orphan_wills.push(w?);
                }
            }
            tx.execute(
                &format!("DELETE FROM session WHERE client_id IN ({expired})"),
                [now],
            )?;
            for table in ["subscription", "will"] {
                tx.execute(
                    &format!("DELETE FROM {table} WHERE client_id NOT IN (SELECT client_id FROM session)"),
                    [],
                )?;
            }
            tx.execute("DELETE FROM retained WHERE expires_at <= ?1", [now])?;

            let (blocks, mut queues, mut inflights) = Blocks::read(&tx, now_ms)?;
            let mut st = tx.prepare(
                "SELECT client_id, expiry, disconnected_at FROM session ORDER BY client_id",
            )?;
            let sessions = st
                .query_map([], |r| {
                    Ok(SessionRecord {
                        client_id: r.get(0)?,
                        expiry: r.get(1)?,
                        disconnected_at: r.get::<_, Option<i64>>(2)?.map(|v| v.max(0) as u64),
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut subs = tx.prepare(
                "SELECT filter, options, sub_id FROM subscription WHERE client_id = ?1 ORDER BY filter",
            )?;
            let mut will =
                tx.prepare("SELECT at, packet, expires_at FROM will WHERE client_id = ?1")?;
            for record in sessions {
                let id = &record.client_id;
                let subscriptions = subs
                    .query_map([id], |r| {
                        Ok(SubscriptionRecord {
                            filter: r.get(0)?,
                            options: r.get(1)?,
                            id: r.get(2)?,
                        })
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                let queue = queues.remove(id).unwrap_or_default();
                let inflight = inflights.remove(id).unwrap_or_default();
                let will = will
                    .query_row([id], |r| {
                        Ok(WillRecord {
                            at: r.get::<_, i64>(0)?.max(0) as u64,
                            message: message(r.get(1)?, r.get(2)?),
                        })
                    })
                    .optional()?;
                snapshot.sessions.push((
                    record,
                    LoadedSession {
                        subscriptions,
                        queue,
                        inflight,
                        will,
                    },
                ));
            }
            let mut st =
                tx.prepare("SELECT topic, packet, expires_at FROM retained ORDER BY topic")?;
            snapshot.retained = st
                .query_map([], |r| {
                    Ok(RetainedRecord {
                        topic: r.get(0)?,
                        message: message(r.get(1)?, r.get(2)?),
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut st = tx.prepare("SELECT kind, key, value FROM record ORDER BY kind, key")?;
            snapshot.records = st
                .query_map([], |r| {
                    Ok(Record {
                        kind: r.get(0)?,
                        key: r.get(1)?,
                        value: Bytes::from(r.get::<_, Vec<u8>>(2)?),
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut st = tx.prepare(
                "SELECT thing, name, version, document FROM shadow ORDER BY thing, name",
            )?;
            snapshot.shadows = st
                .query_map([], |r| {
                    Ok(ShadowRecord {
                        thing: r.get(0)?,
                        name: r.get(1)?,
                        version: r.get::<_, i64>(2)? as u64,
                        document: r.get::<_, Option<Vec<u8>>>(3)?.map(Bytes::from),
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok((snapshot, blocks))
        };
        let (snapshot, blocks) = load().map_err(|e| match e {
            ReadError::Sql(e) => map_err(&shown, e),
            ReadError::Corrupt(detail) => StoreError::Corrupt {
                path: shown.clone(),
                detail,
            },
        })?;
        tx.commit().map_err(|e| map_err(&shown, e))?;
        self.blocks = blocks;
        Ok(snapshot)
    }

    fn tick(&mut self) -> Result<(), StoreError> {
        self.write_deferred(Instant::now().checked_sub(blocks::DEQUEUE_DEFER))
    }

    fn close(&mut self) -> Result<(), StoreError> {
        self.write_deferred(None)
    }

    fn apply(&mut self, ops: &[Op]) -> Result<(), StoreError> {
        let shown = self.path.display().to_string();
        let tx = self.conn.transaction().map_err(|e| map_err(&shown, e))?;
        let result = apply_batch(&tx, &mut self.blocks, ops).and_then(|()| tx.commit());
        if let Err(e) = result {
            // The transaction rolled back (dropping it does that): the block
            // map may have moved ahead of the tables. Read it back.
            let rebuilt = (|| {
                let tx = self.conn.transaction()?;
                let (blocks, _, _) = Blocks::read(&tx, 0)?;
                tx.commit()?;
                Ok::<_, ReadError>(blocks)
            })();
            match rebuilt {
                Ok(blocks) => self.blocks = blocks,
                Err(_) => {
                    tracing::error!(path = %shown, "cannot re-read queued messages after a failed write")
                }
            }
            return Err(map_err(&shown, e));
        }
        Ok(())
    }
}
