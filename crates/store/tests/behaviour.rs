//! The behaviour every store backend must show. Each test runs once per
//! backend (see `backends!` at the bottom); a new backend adds one line.

use bytes::Bytes;
use kumo_store::memory::{MemoryBackend, MemoryData};
use kumo_store::sqlite::SqliteBackend;
use kumo_store::{
    Backend, Durability, InFlightRecord, LoadedSession, Op, QueuedRecord, Record, RetainedRecord,
    SessionRecord, ShadowRecord, Snapshot, Store, StoredMessage, SubscriptionRecord, WillRecord,
};

/// Opens a backend on the same "disk" every time: the second open is a restart.
trait Harness {
    fn open(&self) -> Box<dyn Backend>;
}

struct Memory(MemoryData);
impl Harness for Memory {
    fn open(&self) -> Box<dyn Backend> {
        Box::new(MemoryBackend::open(&self.0))
    }
}

struct Sqlite(tempfile::TempDir);
impl Harness for Sqlite {
    fn open(&self) -> Box<dyn Backend> {
        Box::new(
            SqliteBackend::open(&SqliteBackend::file_in(self.0.path())).expect("open sqlite store"),
        )
    }
}

const NOW: u64 = 1_800_000_000_000;

fn msg(text: &str) -> StoredMessage {
    StoredMessage {
        packet: Bytes::copy_from_slice(text.as_bytes()),
        expires_at: None,
    }
}

fn session(client_id: &str, expiry: u32, disconnected_at: Option<u64>) -> SessionRecord {
    SessionRecord {
        client_id: client_id.into(),
        expiry,
        disconnected_at,
    }
}

fn queued(seq: u64, text: &str) -> QueuedRecord {
    QueuedRecord {
        seq,
        qos: 1,
        retain: false,
        sub_ids: vec![],
        message: msg(text),
    }
}

fn enqueue(client_id: &str, record: QueuedRecord) -> Op {
    Op::Enqueue {
        client_id: client_id.into(),
        record,
    }
}

fn apply(b: &mut Box<dyn Backend>, ops: Vec<Op>) {
    b.apply(&ops).expect("apply");
}

fn reload(h: &dyn Harness, now: u64) -> Snapshot {
    h.open().load(now).expect("load")
}

fn queue_texts(s: &LoadedSession) -> Vec<String> {
    s.queue
        .iter()
        .map(|q| String::from_utf8(q.message.packet.to_vec()).unwrap())
        .collect()
}

fn fresh_store_is_empty(h: &dyn Harness) {
    assert_eq!(reload(h, NOW), Snapshot::default());
}

fn retained_messages_are_set_replaced_and_cleared(h: &dyn Harness) {
    let mut b = h.open();
    b.load(NOW).unwrap();
    let set = |topic: &str, text: &str| {
        Op::RetainSet(RetainedRecord {
            topic: topic.into(),
            message: msg(text),
        })
    };
    apply(
        &mut b,
        vec![set("a/b", "one"), set("a/c", "two"), set("a/b", "three")],
    );
    apply(
        &mut b,
        vec![
            Op::RetainClear {
                topic: "a/c".into(),
            },
            Op::RetainClear {
                topic: "nope".into(),
            },
        ],
    );
    drop(b);
    let s = reload(h, NOW);
    assert_eq!(
        s.retained,
        vec![RetainedRecord {
            topic: "a/b".into(),
            message: msg("three")
        }]
    );
}

fn a_session_comes_back_whole(h: &dyn Harness) {
    let mut b = h.open();
    b.load(NOW).unwrap();
    let sub = SubscriptionRecord {
        filter: "$share/g/t/+".into(),
        options: 0b0010_1101,
        id: Some(7),
    };
    let special = QueuedRecord {
        seq: 2,
        qos: 2,
        retain: true,
        sub_ids: vec![7, 268_435_455],
        message: StoredMessage {
            packet: Bytes::from_static(&[0, 255, 1, 0]),
            expires_at: Some(NOW + 60_000),
        },
    };
    let will = WillRecord {
        at: NOW + 5_000,
        message: msg("gone"),
    };
    apply(
        &mut b,
        vec![
            Op::SessionPut(session("dev-1", 3600, None)),
            Op::Subscribe {
                client_id: "dev-1".into(),
                sub: sub.clone(),
            },
            Op::Subscribe {
                client_id: "dev-1".into(),
                sub: SubscriptionRecord {
                    filter: "x".into(),
                    options: 1,
                    id: None,
                },
            },
            enqueue("dev-1", queued(10, "third")),
            enqueue("dev-1", queued(1, "first")),
            enqueue("dev-1", special.clone()),
            Op::WillSet {
                client_id: "dev-1".into(),
                will: will.clone(),
            },
        ],
    );
    apply(
        &mut b,
        vec![Op::Unsubscribe {
            client_id: "dev-1".into(),
            filter: "x".into(),
        }],
    );
    drop(b);
    let s = reload(h, NOW);
    assert_eq!(s.sessions.len(), 1);
    let (record, loaded) = &s.sessions[0];
    assert_eq!(record, &session("dev-1", 3600, None));
    assert_eq!(loaded.subscriptions, vec![sub]);
    assert_eq!(
        loaded.queue.iter().map(|q| q.seq).collect::<Vec<_>>(),
        vec![1, 2, 10],
        "queue in seq order"
    );
    assert_eq!(loaded.queue[1], special);
    assert_eq!(loaded.will, Some(will));
}

fn dequeue_removes_exactly_that_message(h: &dyn Harness) {
    let mut b = h.open();
    b.load(NOW).unwrap();
    apply(
        &mut b,
        vec![
            Op::SessionPut(session("a", 60, None)),
            Op::SessionPut(session("b", 60, None)),
            enqueue("a", queued(1, "a1")),
            enqueue("a", queued(2, "a2")),
            enqueue("b", queued(3, "b1")),
        ],
    );
    apply(
        &mut b,
        vec![
            Op::Dequeue {
                client_id: "a".into(),
                seq: 1,
            },
            Op::Dequeue {
                client_id: "a".into(),
                seq: 99,
            },
        ],
    );
    drop(b);
    let s = reload(h, NOW);
    assert_eq!(queue_texts(&s.sessions[0].1), vec!["a2"]);
    assert_eq!(queue_texts(&s.sessions[1].1), vec!["b1"]);
}

fn a_queue_drains_across_restarts(h: &dyn Harness) {
    let mut b = h.open();
    b.load(NOW).unwrap();
    apply(&mut b, vec![Op::SessionPut(session("s", 60, None))]);
    apply(
        &mut b,
        (1..=4)
            .map(|i| enqueue("s", queued(i, &format!("m{i}"))))
            .collect(),
    );
    apply(
        &mut b,
        (5..=6)
            .map(|i| enqueue("s", queued(i, &format!("m{i}"))))
            .collect(),
    );
    apply(
        &mut b,
        vec![Op::Dequeue {
            client_id: "s".into(),
            seq: 2,
        }],
    );
    drop(b);
    let mut b = h.open();
    let s = b.load(NOW).unwrap();
    assert_eq!(
        queue_texts(&s.sessions[0].1),
        vec!["m1", "m3", "m4", "m5", "m6"]
    );
    // Dequeue after a restart, across what were separate writes.
    apply(
        &mut b,
        [1, 3, 4, 6]
            .iter()
            .map(|&seq| Op::Dequeue {
                client_id: "s".into(),
                seq,
            })
            .collect(),
    );
    apply(&mut b, vec![enqueue("s", queued(7, "m7"))]);
    drop(b);
    let mut b = h.open();
    let s = b.load(NOW).unwrap();
    assert_eq!(queue_texts(&s.sessions[0].1), vec!["m5", "m7"]);
    apply(
        &mut b,
        vec![
            Op::Dequeue {
                client_id: "s".into(),
                seq: 5,
            },
            Op::Dequeue {
                client_id: "s".into(),
                seq: 7,
            },
        ],
    );
    drop(b);
    assert!(reload(h, NOW).sessions[0].1.queue.is_empty());
}

fn packet_ids_of_sent_messages_come_back(h: &dyn Harness) {
    let inflight = |seq, packet_id, released| Op::InFlight {
        client_id: "s".into(),
        record: InFlightRecord {
            seq,
            packet_id,
            released,
        },
    };
    let mut b = h.open();
    b.load(NOW).unwrap();
    apply(&mut b, vec![Op::SessionPut(session("s", 60, None))]);
    // Sent in the same batch as queued, and in a later one.
    apply(
        &mut b,
        vec![
            enqueue("s", queued(1, "a")),
            enqueue("s", queued(2, "b")),
            inflight(1, 7, false),
        ],
    );
    apply(
        &mut b,
        vec![
            enqueue("s", queued(3, "c")),
            inflight(2, 8, false),
            inflight(3, 9, false),
        ],
    );
    // QoS 2 moved on to PUBREL; one acknowledged; one for nothing queued.
    apply(
        &mut b,
        vec![
            inflight(2, 8, true),
            Op::Dequeue {
                client_id: "s".into(),
                seq: 3,
            },
            inflight(99, 1, false),
        ],
    );
    drop(b);
    let s = reload(h, NOW);
    let loaded = &s.sessions[0].1;
    assert_eq!(queue_texts(loaded), vec!["a", "b"]);
    assert_eq!(
        loaded.inflight,
        vec![
            InFlightRecord {
                seq: 1,
                packet_id: 7,
                released: false
            },
            InFlightRecord {
                seq: 2,
                packet_id: 8,
                released: true
            },
        ]
    );
}

fn session_delete_takes_everything_with_it(h: &dyn Harness) {
    let mut b = h.open();
    b.load(NOW).unwrap();
    apply(
        &mut b,
        vec![
            Op::SessionPut(session("a", 60, None)),
            Op::Subscribe {
                client_id: "a".into(),
                sub: SubscriptionRecord {
                    filter: "t".into(),
                    options: 1,
                    id: None,
                },
            },
            enqueue("a", queued(1, "m")),
            Op::WillSet {
                client_id: "a".into(),
                will: WillRecord {
                    at: NOW,
                    message: msg("w"),
                },
            },
        ],
    );
    apply(
        &mut b,
        vec![
            Op::SessionDelete {
                client_id: "a".into(),
            },
            Op::SessionPut(session("a", 60, None)),
        ],
    );
    drop(b);
    let s = reload(h, NOW);
    assert_eq!(
        s.sessions,
        vec![(session("a", 60, None), LoadedSession::default())]
    );
}

fn expired_sessions_are_gone_and_their_wills_returned(h: &dyn Harness) {
    let mut b = h.open();
    b.load(NOW).unwrap();
    let will = WillRecord {
        at: NOW + 100_000,
        message: msg("bye"),
    };
    apply(
        &mut b,
        vec![
            // Disconnected 120 s before NOW with a 60 s expiry: gone.
            Op::SessionPut(session("old", 60, Some(NOW - 120_000))),
            enqueue("old", queued(1, "lost cause")),
            Op::WillSet {
                client_id: "old".into(),
                will: will.clone(),
            },
            // Disconnected 30 s before NOW with a 60 s expiry: still there.
            Op::SessionPut(session("recent", 60, Some(NOW - 30_000))),
            // Connected when Kumo stopped: its clock starts at the restart.
            Op::SessionPut(session("was-online", 60, None)),
            Op::SessionPut(session("was-online-clean", 0, None)),
            // Never expires.
            Op::SessionPut(session("forever", u32::MAX, Some(0))),
        ],
    );
    drop(b);
    let s = reload(h, NOW);
    let ids: Vec<&str> = s.sessions.iter().map(|(r, _)| &*r.client_id).collect();
    assert_eq!(ids, vec!["forever", "recent", "was-online"]);
    assert_eq!(s.orphan_wills, vec![will]);
    // What load dropped stays dropped.
    let again = reload(h, NOW);
    assert!(again.orphan_wills.is_empty());
    assert_eq!(again.sessions.len(), 3);
}

fn expired_messages_are_not_loaded(h: &dyn Harness) {
    let mut b = h.open();
    b.load(NOW).unwrap();
    let expiring = |text: &str, at: u64| StoredMessage {
        packet: Bytes::copy_from_slice(text.as_bytes()),
        expires_at: Some(at),
    };
    apply(
        &mut b,
        vec![
            Op::SessionPut(session("a", 600, None)),
            enqueue(
                "a",
                QueuedRecord {
                    message: expiring("stale", NOW - 1),
                    ..queued(1, "")
                },
            ),
            enqueue(
                "a",
                QueuedRecord {
                    message: expiring("fresh", NOW + 1),
                    ..queued(2, "")
                },
            ),
            Op::RetainSet(RetainedRecord {
                topic: "stale".into(),
                message: expiring("s", NOW),
            }),
            Op::RetainSet(RetainedRecord {
                topic: "fresh".into(),
                message: expiring("f", NOW + 1),
            }),
        ],
    );
    drop(b);
    let s = reload(h, NOW);
    assert_eq!(queue_texts(&s.sessions[0].1), vec!["fresh"]);
    assert_eq!(
        s.retained
            .iter()
            .map(|r| r.topic.as_str())
            .collect::<Vec<_>>(),
        vec!["fresh"]
    );
}

fn rows_of_unknown_sessions_are_dropped(h: &dyn Harness) {
    let mut b = h.open();
    b.load(NOW).unwrap();
    apply(
        &mut b,
        vec![
            Op::Subscribe {
                client_id: "ghost".into(),
                sub: SubscriptionRecord {
                    filter: "t".into(),
                    options: 0,
                    id: None,
                },
            },
            enqueue("ghost", queued(1, "m")),
        ],
    );
    apply(&mut b, vec![Op::SessionPut(session("ghost", 60, None))]);
    drop(b);
    // The session was created after its rows; load dropped nothing in
    // between, so they are its rows now.
    let s = reload(h, NOW);
    assert_eq!(queue_texts(&s.sessions[0].1), vec!["m"]);

    let mut b = h.open();
    b.load(NOW).unwrap();
    apply(&mut b, vec![enqueue("nobody", queued(2, "m"))]);
    drop(b);
    reload(h, NOW); // drops the orphan row
    let mut b = h.open();
    b.load(NOW).unwrap();
    apply(&mut b, vec![Op::SessionPut(session("nobody", 60, None))]);
    drop(b);
    let s = reload(h, NOW);
    let nobody = s
        .sessions
        .iter()
        .find(|(r, _)| &*r.client_id == "nobody")
        .unwrap();
    assert!(
        nobody.1.queue.is_empty(),
        "an orphan row must not come back to a later session"
    );
}

fn group_commit_makes_every_submission_durable(h: &dyn Harness) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let (store, _) = Store::open(h.open(), Durability::Sync, NOW).unwrap();
    rt.block_on(async {
        store
            .submit_one(Op::SessionPut(session("s", 60, None)))
            .wait()
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for task in 0..8u64 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..50u64 {
                    let seq = task * 1000 + i;
                    store
                        .submit_one(enqueue("s", queued(seq, &seq.to_string())))
                        .wait()
                        .await
                        .unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    store.close();
    let s = reload(h, NOW);
    assert_eq!(s.sessions[0].1.queue.len(), 400);
}

fn async_durability_acknowledges_at_once_and_flushes_on_close(h: &dyn Harness) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let durability = Durability::Async {
        flush_interval: std::time::Duration::from_secs(3600),
    };
    let (store, _) = Store::open(h.open(), durability, NOW).unwrap();
    rt.block_on(async {
        // Would hang for an hour if it waited for the flush.
        let commit = store.submit_one(Op::RetainSet(RetainedRecord {
            topic: "t".into(),
            message: msg("m"),
        }));
        commit.wait().await.unwrap();
    });
    store.close();
    assert_eq!(reload(h, NOW).retained.len(), 1);
    let err = rt.block_on(
        store
            .submit_one(Op::RetainClear { topic: "t".into() })
            .wait(),
    );
    assert!(
        matches!(err, Err(kumo_store::StoreError::Closed)),
        "{err:?}"
    );
}

fn a_message_acknowledged_within_the_batch_is_never_written(h: &dyn Harness) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (store, _) = Store::open(h.open(), Durability::Sync, NOW).unwrap();
    rt.block_on(async {
        let a = store.submit([
            Op::SessionPut(session("s", 60, None)),
            enqueue("s", queued(1, "x")),
            enqueue("s", queued(2, "y")),
        ]);
        let b = store.submit_one(Op::Dequeue {
            client_id: "s".into(),
            seq: 1,
        });
        a.wait().await.unwrap();
        b.wait().await.unwrap();
    });
    store.close();
    assert_eq!(queue_texts(&reload(h, NOW).sessions[0].1), vec!["y"]);
}

fn record(kind: &str, key: &str, value: &str) -> Record {
    Record {
        kind: kind.into(),
        key: key.into(),
        value: Bytes::copy_from_slice(value.as_bytes()),
    }
}

fn registry_records_are_put_replaced_and_deleted(h: &dyn Harness) {
    let mut b = h.open();
    apply(
        &mut b,
        vec![
            Op::RecordPut(record("thing", "raspi2", "v1")),
            Op::RecordPut(record("thing", "pico", "p1")),
            Op::RecordPut(record("policy", "raspi2", "doc")),
            Op::RecordPut(record("thing", "raspi2", "v2")),
            Op::RecordDelete {
                kind: "thing".into(),
                key: "pico".into(),
            },
            // Deleting what is not there is not an error.
            Op::RecordDelete {
                kind: "thing".into(),
                key: "nobody".into(),
            },
        ],
    );
    drop(b);
    let s = reload(h, NOW);
    assert_eq!(
        s.records,
        vec![
            record("policy", "raspi2", "doc"),
            record("thing", "raspi2", "v2")
        ],
        "ordered by kind, then key; the same key in another kind is another record"
    );
    assert!(s.sessions.is_empty() && s.retained.is_empty());
}

fn shadow(thing: &str, name: &str, version: u64, document: Option<&str>) -> ShadowRecord {
    ShadowRecord {
        thing: thing.into(),
        name: name.into(),
        version,
        document: document.map(|d| Bytes::copy_from_slice(d.as_bytes())),
    }
}

fn shadows_are_put_replaced_and_deleted_with_their_version(h: &dyn Harness) {
    let mut b = h.open();
    apply(
        &mut b,
        vec![
            Op::ShadowPut(shadow("raspi2", "", 1, Some("{\"a\":1}"))),
            Op::ShadowPut(shadow("raspi2", "config", 1, Some("{}"))),
            Op::ShadowPut(shadow("pico", "", 1, Some("{}"))),
            Op::ShadowPut(shadow("raspi2", "", 2, Some("{\"a\":2}"))),
        ],
    );
    // Deleted: the row stays, without a document, so the version survives.
    apply(&mut b, vec![Op::ShadowPut(shadow("pico", "", 2, None))]);
    drop(b);
    let s = reload(h, NOW);
    assert_eq!(
        s.shadows,
        vec![
            shadow("pico", "", 2, None),
            shadow("raspi2", "", 2, Some("{\"a\":2}")),
            shadow("raspi2", "config", 1, Some("{}")),
        ],
        "ordered by thing, then name; the classic shadow (empty name) first"
    );
    assert!(s.records.is_empty() && s.sessions.is_empty());
}

macro_rules! backends {
    ($($test:ident),* $(,)?) => {
        mod memory {
            $( #[test] fn $test() { super::$test(&super::Memory(Default::default())); } )*
        }
        mod sqlite {
            $( #[test] fn $test() { super::$test(&super::Sqlite(tempfile::tempdir().unwrap())); } )*
        }
    };
}

backends!(
    shadows_are_put_replaced_and_deleted_with_their_version,
    fresh_store_is_empty,
    retained_messages_are_set_replaced_and_cleared,
    a_session_comes_back_whole,
    dequeue_removes_exactly_that_message,
    session_delete_takes_everything_with_it,
    a_queue_drains_across_restarts,
    packet_ids_of_sent_messages_come_back,
    expired_sessions_are_gone_and_their_wills_returned,
    expired_messages_are_not_loaded,
    rows_of_unknown_sessions_are_dropped,
    group_commit_makes_every_submission_durable,
    async_durability_acknowledges_at_once_and_flushes_on_close,
    a_message_acknowledged_within_the_batch_is_never_written,
    registry_records_are_put_replaced_and_deleted,
);
