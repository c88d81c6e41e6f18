//! The `shadow_update` fuzz body (fuzz/fuzz_targets/shadow_update.rs) over
//! fixed odd inputs, pseudo-random request sequences and byte mutations of
//! valid ones, so CI exercises it without cargo-fuzz.

#[path = "common/fuzz_body.rs"]
mod fuzz_body;

use fuzz_body::check;
use kumo_shadow::serde_json::{json, Map, Value};

const ODD: &[&str] = &[
    "",
    "{",
    "{}",
    "null",
    "[]",
    r#"{"state":null}"#,
    r#"{"state":{}}"#,
    r#"{"state":{"desired":{}}}"#,
    r#"{"state":{"desired":{"a":{}}}}"#,
    r#"{"state":{"desired":{"a":{"b":null}}}}"#,
    r#"{"state":{"desired":{"a":[{}]},"reported":{"a":[{}]}}}"#,
    r#"{"state":{"desired":{"a":1.0},"reported":{"a":1}}}"#,
    r#"{"state":{"desired":{"a":1e308,"b":-0.0,"c":5e-324,"d":0.30000000000000004}}}"#,
    r#"{"state":{"desired":{"a":18446744073709551616,"b":-9223372036854775809}}}"#,
    r#"{"state":{"desired":{"timestamp":{"timestamp":1}},"reported":{"timestamp":2}}}"#,
    r#"{"state":{"desired":{"one":{"two":{"three":{"four":{"five":{"six":1}}}}}}}}"#,
    r#"{"state":{"desired":{"one":{"two":{"three":{"four":{"five":{"six":{}}}}}}}}}"#,
    r#"{"state":{"desired":{"a":[null]}}}"#,
    r#"{"state":{"x":{}}}"#,
    r#"{"state":{},"version":0}"#,
    r#"{"state":{},"version":18446744073709551615}"#,
    r#"{"state":{},"clientToken":"\ud800"}"#,
    "{\"state\":{\"desired\":{\"\\u0000\":\"\\u0000\"}}}",
    "\u{feff}{\"state\":{}}",
    "{\"state\":{\"reported\":{\"a\":1}}}\u{ff}\u{3}\u{ff}{\"state\":{\"desired\":{\"a\":2}}}",
];

/// Deterministic xorshift64*.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const KEYS: [&str; 4] = ["a", "b", "c", "timestamp"];

fn scalar(r: &mut Rng) -> Value {
    match r.below(7) {
        0 => json!(r.below(3)),
        1 => json!(r.below(3) as f64 + 0.5),
        2 => json!(1.0),
        3 => json!(["x", "y"][r.below(2) as usize]),
        4 => json!(r.below(2) == 0),
        5 => json!(-(r.below(3) as i64)),
        _ => json!(""),
    }
}

/// A random value for an update: objects merge, nulls delete.
fn value(r: &mut Rng, depth: usize, in_array: bool) -> Value {
    let roll = r.below(10);
    if depth >= 7 || roll < 4 {
        return scalar(r);
    }
    match roll {
        4 if !in_array => Value::Null,
        5 | 6 => Value::Array((0..r.below(3)).map(|_| value(r, depth + 1, true)).collect()),
        _ => Value::Object(object(r, depth + 1, in_array)),
    }
}

fn object(r: &mut Rng, depth: usize, in_array: bool) -> Map<String, Value> {
    (0..r.below(4))
        .map(|_| {
            (
                KEYS[r.below(4) as usize].to_string(),
                value(r, depth, in_array),
            )
        })
        .collect()
}

fn request(r: &mut Rng) -> Value {
    let mut state = Map::new();
    for name in ["desired", "reported"] {
        match r.below(5) {
            0 => {}
            1 => {
                state.insert(name.into(), Value::Null);
            }
            _ => {
                state.insert(name.into(), Value::Object(object(r, 1, false)));
            }
        }
    }
    let mut req = Map::new();
    req.insert(
        "state".into(),
        if r.below(20) == 0 {
            Value::Null
        } else {
            Value::Object(state)
        },
    );
    if r.below(4) == 0 {
        req.insert("clientToken".into(), json!("tok"));
    }
    if r.below(8) == 0 {
        req.insert("version".into(), json!(r.below(4)));
    }
    Value::Object(req)
}

fn sequence(r: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..4 {
        if i > 0 {
            out.push(0xFF);
        }
        match r.below(8) {
            0 => out.push(2), // get
            1 => out.push(3), // delete
            _ => out.extend(request(r).to_string().into_bytes()),
        }
    }
    out
}

#[test]
fn odd_inputs() {
    for input in ODD {
        check(input.as_bytes());
    }
    // Raw separators and selectors.
    for input in [
        &b"\xff\xff\xff"[..],
        b"\x02",
        b"\x03",
        b"\x02\xff\x03\xff\x01{}",
        b"\x00\xc3(",
    ] {
        check(input);
    }
}

#[test]
fn random_sequences() {
    let mut r = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..10_000 {
        check(&sequence(&mut r));
    }
}

/// The generator is worth running: most of its requests are accepted, some
/// are refused, and many accepted ones leave a delta.
#[test]
fn generator_coverage() {
    use kumo_shadow::{update, Shadow};
    let mut r = Rng(7);
    let (mut ok, mut refused, mut with_delta) = (0, 0, 0);
    let mut shadow = Shadow::default();
    for _ in 0..2_000 {
        match update(&shadow, request(&mut r).to_string().as_bytes(), 1) {
            Ok(u) => {
                ok += 1;
                with_delta += u.delta.is_some() as u32;
                shadow = u.shadow;
            }
            Err(_) => refused += 1,
        }
    }
    assert!(
        ok > 1_000 && refused > 50 && with_delta > 300,
        "{ok} {refused} {with_delta}"
    );
}

#[test]
fn mutated_sequences() {
    let mut r = Rng(0xD1B5_4A32_D192_ED03);
    for _ in 0..2_000 {
        let mut input = sequence(&mut r);
        for _ in 0..1 + r.below(4) {
            if input.is_empty() {
                break;
            }
            let at = r.below(input.len() as u64) as usize;
            match r.below(3) {
                0 => input[at] = r.next() as u8,
                1 => {
                    input.remove(at);
                }
                _ => input.insert(at, b"{}[]\",:0n"[r.below(9) as usize]),
            }
        }
        check(&input);
    }
}
