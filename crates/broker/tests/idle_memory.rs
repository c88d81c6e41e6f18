//! Memory per idle connection. Devices mostly sit connected and quiet, so
//! what one idle connection holds, times the fleet, is the broker's memory.
//! These tests count the heap bytes the broker keeps per connected client
//! (with a counting allocator) and the size of the connection task's future
//! (which lives on the heap as long as the device stays connected).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        LIVE.fetch_add(n as isize - l.size() as isize, Ordering::Relaxed);
        System.realloc(p, l, n)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn info() -> kumo_broker::ConnectionInfo {
    kumo_broker::ConnectionInfo {
        remote: "127.0.0.1:1".parse().unwrap(),
        listener: "test",
        client_cert: None,
        server_name: None,
        principal: None,
        admin: false,
        publisher_ids: false,
    }
}

#[test]
fn connection_task_future_stays_small() {
    let b = kumo_broker::Broker::new(Default::default());
    let (_a, z) = tokio::io::duplex(64);
    let size = std::mem::size_of_val(&b.serve(z, info()));
    assert!(size <= 2048, "the connection future grew to {size} bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connection_heap_stays_under_6_kib() {
    let b = kumo_broker::Broker::new(Default::default());
    let n = 500;
    let mut clients = Vec::new();
    let before = LIVE.load(Ordering::Relaxed);
    for i in 0..n {
        let (mut a, z) = tokio::io::duplex(256);
        let bb = b.clone();
        tokio::spawn(async move { bb.serve(z, info()).await });
        // CONNECT, MQTT 3.1.1, clean session, keep-alive 60, client id "c<i>".
        let id = format!("c{i:05}");
        let mut pkt = vec![
            0x10,
            (12 + id.len()) as u8,
            0,
            4,
            b'M',
            b'Q',
            b'T',
            b'T',
            4,
            2,
            0,
            60,
            0,
        ];
        pkt.push(id.len() as u8);
        pkt.extend_from_slice(id.as_bytes());
        a.write_all(&pkt).await.unwrap();
        let mut connack = [0u8; 4];
        a.read_exact(&mut connack).await.unwrap();
        assert_eq!(connack, [0x20, 2, 0, 0]);
        clients.push(a);
    }
    let per_connection = (LIVE.load(Ordering::Relaxed) - before) / n;
    // The duplex pipe standing in for the socket is ~240 bytes of this.
    assert!(
        per_connection <= 6 * 1024,
        "{per_connection} heap bytes per idle connection"
    );
}
