//! `PolicySet::evaluate` runs on every PUBLISH and every delivery: it must
//! not allocate. A counting global allocator checks that.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use kumo_policy::{
    Action, ArnBuilder, CertificateContext, Context, DnAttribute, PolicyDocument, PolicySet,
};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn evaluate_does_not_allocate() {
    let doc = PolicyDocument::parse(
        r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:us-east-1:123456789012:client/${iot:ClientId}"},
        {"Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":[
            "arn:aws:iot:us-east-1:123456789012:topic/${iot:ClientId}/*",
            "arn:aws:iot:us-east-1:123456789012:topic/$aws/things/${iot:ClientId}/shadow/*",
            "arn:aws:iot:us-east-1:123456789012:topic/fleet/*/status/?",
            "arn:aws:iot:us-east-1:123456789012:topic/${iot:Certificate.Subject.CommonName}"]},
        {"Effect":"Deny","Action":"iot:Publish","NotResource":"arn:aws:iot:us-east-1:123456789012:topic/*"},
        {"Effect":"Deny","Action":"iot:*","Resource":"arn:aws:iot:us-east-1:123456789012:topic/${iot:ClientId}/secret*",
         "Condition":{"StringLike":{"iot:ClientId":"dev-*"}}}]}"#,
    )
    .unwrap();
    let mut cert = CertificateContext::default();
    cert.subject
        .insert(DnAttribute::CommonName, vec!["cn-1".into()]);
    let ctx = Context {
        certificate: Some(cert),
        ..Context::with_client_id("dev-1")
    };
    let set = PolicySet::compile([&doc], &ctx);
    let mut arn = ArnBuilder::new("us-east-1", "123456789012");
    // Grow the builder's buffer before counting.
    let _ = arn.topic(&"x".repeat(256));
    let topics = [
        "dev-1/a/b/c",
        "dev-1/secret/x",
        "$aws/things/dev-1/shadow/update",
        "fleet/north/status/1",
        "fleet/north/status/12",
        "cn-1",
        "other/x",
    ];
    let mut allowed = 0;
    COUNTING.with(|c| c.set(true));
    for _ in 0..100 {
        for t in topics {
            for action in [Action::Publish, Action::Receive, Action::Subscribe] {
                allowed += usize::from(set.is_allowed(action, arn.topic(t)));
            }
        }
        allowed += usize::from(set.is_allowed(Action::Connect, arn.client("dev-1")));
    }
    COUNTING.with(|c| c.set(false));
    assert_eq!(ALLOCATIONS.load(Ordering::Relaxed), 0);
    // 4 allowed topics × 2 actions + connect, 100 times.
    assert_eq!(allowed, 100 * (4 * 2 + 1));
}
