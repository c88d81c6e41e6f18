//! What the SQLite backend does with the file it is pointed at: creates it,
//! upgrades it, and refuses (without writing a byte) anything that is not
//! a Kumo store.

use kumo_store::sqlite::{SqliteBackend, APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION};
use kumo_store::{Backend, StoreError};

fn refused_untouched(content: &[u8]) -> StoreError {
    let dir = tempfile::tempdir().unwrap();
    let path = SqliteBackend::file_in(dir.path());
    std::fs::write(&path, content).unwrap();
    let err = SqliteBackend::open(&path).expect_err("must refuse");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        content,
        "the file must not be modified"
    );
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names.len(),
        1,
        "no -wal/-shm files next to a refused file: {names:?}"
    );
    err
}

#[test]
fn a_text_file_is_refused_and_left_alone() {
    let err = refused_untouched(b"my notes, not a database\n");
    assert!(matches!(err, StoreError::Foreign { .. }), "{err:?}");
    assert!(err.to_string().contains("not a Kumo data file"), "{err}");
}

#[test]
fn an_empty_file_is_refused() {
    let err = refused_untouched(b"");
    assert!(matches!(err, StoreError::Foreign { .. }), "{err:?}");
}

#[test]
fn another_applications_database_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.db");
    {
        let c = rusqlite::Connection::open(&other).unwrap();
        c.execute_batch("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO photos (name) VALUES ('cat');")
            .unwrap();
    }
    let bytes = std::fs::read(&other).unwrap();
    let err = refused_untouched(&bytes);
    assert!(matches!(err, StoreError::Foreign { .. }), "{err:?}");
    assert!(err.to_string().contains("another application"), "{err}");
}

#[test]
fn a_store_from_a_newer_kumo_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = SqliteBackend::file_in(dir.path());
    drop(SqliteBackend::open(&path).unwrap());
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
    }
    let err = SqliteBackend::open(&path).expect_err("must refuse");
    assert!(
        matches!(err, StoreError::TooNew { found, .. } if found == SCHEMA_VERSION + 1),
        "{err:?}"
    );
}

#[test]
fn a_garbled_store_is_reported_instead_of_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let path = SqliteBackend::file_in(dir.path());
    {
        let mut b = SqliteBackend::open(&path).unwrap();
        b.load(0).unwrap();
    }
    // Keep the SQLite header, overwrite the rest with garbage.
    let mut bytes = std::fs::read(&path).unwrap();
    for b in bytes.iter_mut().skip(100) {
        *b = 0xA5;
    }
    std::fs::write(&path, &bytes).unwrap();
    let _ = std::fs::remove_file(path.with_extension("db-wal"));
    let err = SqliteBackend::open(&path)
        .and_then(|mut b| b.load(0).map(|_| ()))
        .expect_err("must fail");
    assert!(
        matches!(err, StoreError::Corrupt { .. } | StoreError::Foreign { .. }),
        "{err:?}"
    );
}

#[test]
fn a_new_store_is_a_wal_mode_kumo_file_at_the_current_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = SqliteBackend::file_in(dir.path());
    drop(SqliteBackend::open(&path).unwrap());
    let c = rusqlite::Connection::open(&path).unwrap();
    let app: i32 = c
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .unwrap();
    let version: i64 = c
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    let mode: String = c
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(
        (app, version, mode.as_str()),
        (APPLICATION_ID, SCHEMA_VERSION, "wal")
    );
    // Opening it again is not a migration.
    drop(c);
    drop(SqliteBackend::open(&path).unwrap());
}

#[test]
fn a_version_1_store_is_migrated_in_place_and_keeps_its_data() {
    use bytes::Bytes;
    use kumo_store::{Backend, Op, Record};
    let dir = tempfile::tempdir().unwrap();
    let path = SqliteBackend::file_in(dir.path());
    {
        // What Kumo 0.1 (schema 1: sessions and retained messages) wrote.
        let c = rusqlite::Connection::open(&path).unwrap();
        c.pragma_update(None, "application_id", APPLICATION_ID)
            .unwrap();
        c.execute_batch(MIGRATIONS[0]).unwrap();
        c.execute(
            "INSERT INTO retained (topic, packet, expires_at) VALUES ('a/b', x'30', NULL)",
            [],
        )
        .unwrap();
        c.pragma_update(None, "user_version", 1).unwrap();
    }
    let mut b = SqliteBackend::open(&path).unwrap();
    let s = b.load(0).unwrap();
    assert_eq!(s.retained.len(), 1, "data of the old schema is kept");
    assert!(s.records.is_empty());
    let put = Op::RecordPut(Record {
        kind: "thing".into(),
        key: "raspi2".into(),
        value: Bytes::from_static(b"{}"),
    });
    b.apply(&[put]).unwrap();
    drop(b);
    let c = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = c
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    drop(c);
    let s = SqliteBackend::open(&path).unwrap().load(0).unwrap();
    assert_eq!((s.retained.len(), s.records.len()), (1, 1));
}

#[test]
fn a_full_store_says_so_and_keeps_what_it_had() {
    use bytes::Bytes;
    use kumo_store::{Op, RetainedRecord, StoredMessage};
    let dir = tempfile::tempdir().unwrap();
    let path = SqliteBackend::file_in(dir.path());
    let mut b = SqliteBackend::open(&path).unwrap();
    b.load(0).unwrap();
    b.set_max_size(Some(64 * 1024)).unwrap();
    let op = |i: usize| {
        Op::RetainSet(RetainedRecord {
            topic: format!("t/{i}"),
            message: StoredMessage {
                packet: Bytes::from(vec![7u8; 2000]),
                expires_at: None,
            },
        })
    };
    let mut stored = 0;
    let err = loop {
        match b.apply(&[op(stored)]) {
            Ok(()) => stored += 1,
            Err(e) => break e,
        }
        assert!(stored < 1000, "the cap was never hit");
    };
    assert!(matches!(err, StoreError::Full(_)), "{err:?}");
    assert!(err.to_string().contains("storage full"), "{err}");
    // A batch that does not fit leaves no trace; what was stored stays.
    let half = [op(10_000), op(10_001), op(10_002)];
    assert!(b.apply(&half).is_err());
    drop(b);
    let mut b = SqliteBackend::open(&path).unwrap();
    let s = b.load(0).unwrap();
    assert_eq!(s.retained.len(), stored);
    // Lifting the cap makes room again.
    b.set_max_size(None).unwrap();
    b.apply(&half).unwrap();
}

#[test]
fn acknowledgements_reach_the_disk_within_the_defer_window() {
    use bytes::Bytes;
    use kumo_store::{Op, QueuedRecord, SessionRecord, StoredMessage};
    let dir = tempfile::tempdir().unwrap();
    let path = SqliteBackend::file_in(dir.path());
    let queued = |seq| Op::Enqueue {
        client_id: "s".into(),
        record: QueuedRecord {
            seq,
            qos: 1,
            retain: false,
            sub_ids: vec![],
            message: StoredMessage {
                packet: Bytes::from_static(b"m"),
                expires_at: None,
            },
        },
    };
    let dequeue = |seq| Op::Dequeue {
        client_id: "s".into(),
        seq,
    };
    let mut b = SqliteBackend::open(&path).unwrap();
    b.load(0).unwrap();
    let session = SessionRecord {
        client_id: "s".into(),
        expiry: 60,
        disconnected_at: None,
    };
    b.apply(&[Op::SessionPut(session), queued(1), queued(2), queued(3)])
        .unwrap();
    b.apply(&[dequeue(1)]).unwrap();
    // Crash (no close, no drop) right after: the ack may be lost, the
    // message is delivered again — at least once, never lost.
    let crashed = {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.query_row("SELECT count(*) FROM dequeued", [], |r| r.get::<_, i64>(0))
            .unwrap()
    };
    assert_eq!(crashed, 0, "deferred: not written yet");
    // Once the window has passed, the writer's idle tick writes it.
    std::thread::sleep(std::time::Duration::from_millis(150)); // the window passing is under test
    b.tick().unwrap();
    std::mem::forget(b); // a crash: nothing else gets written
    let mut b = SqliteBackend::open(&path).unwrap();
    let s = b.load(0).unwrap();
    let seqs: Vec<u64> = s.sessions[0].1.queue.iter().map(|q| q.seq).collect();
    assert_eq!(seqs, vec![2, 3]);
}
