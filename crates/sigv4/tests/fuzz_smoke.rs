//! The `sigv4_verify` fuzz body (fuzz/fuzz_targets/sigv4_verify.rs) over
//! fixed odd inputs and a few thousand deterministic mutations of real
//! requests, so CI exercises it without cargo-fuzz. Inputs the fuzzer finds
//! go into `REGRESSIONS`.

#[path = "common/fuzz_body.rs"]
mod fuzz_body;

use fuzz_body::check;

const ODD: &[&str] = &[
    "",
    "\n",
    "\n\n",
    "GET",
    "GET\n/",
    "GET\n/?",
    "GET\n/?&&&=&=",
    "GET\n/%\n\n",
    "GET\n/?%zz=%&%4=%41\nHost: h\n\n",
    "GET\n/..\\../../%2E%2E/\nHost:\n\n",
    "GET\n/\nAuthorization: AWS4-HMAC-SHA256\n\n",
    "GET\n/\nAuthorization: AWS4-HMAC-SHA256 ,,,,\n\n",
    "GET\n/\nAuthorization: AWS4-HMAC-SHA256 Credential=///////, SignedHeaders=;;;, Signature=\nX-Amz-Date: 20240101T000000Z\n\n",
    "GET\n/\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIAFUZZ/20240101/us-east-1/iot/aws4_request, SignedHeaders=host, Signature=00\nX-Amz-Date: 99991231T235959Z\nHost: h\n\n",
    "GET\n/\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIAFUZZ/00000101/us-east-1/iot/aws4_request, SignedHeaders=host, Signature=00\nDate: Mon, 01 Jan 0000 00:00:00 +2359\nHost: h\n\n",
    "GET\n/\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIAFUZZ/20240101/us-east-1/iot/aws4_request, SignedHeaders=host;x-amz-content-sha256, Signature=00\nX-Amz-Date: 20240101T000000Z\nx-amz-content-sha256: UNSIGNED-PAYLOAD\nHost: h\n\n",
    "GET\n/mqtt?X-Amz-Algorithm=AWS4-HMAC-SHA256\n\n",
    "GET\n/mqtt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAFUZZ%2F20240315%2Fus-east-1%2Fiotdevicegateway%2Faws4_request&X-Amz-Date=20240315T123456Z&X-Amz-Expires=99999999999999999999999999&X-Amz-SignedHeaders=host&X-Amz-Signature=00\nHost: h\n\n",
    "GET\n/mqtt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=%&X-Amz-Date=&X-Amz-SignedHeaders=&X-Amz-Signature=&X-Amz-Security-Token=\n\n",
    "POST\n/topics/%24aws%2Fthings%2Fx%2Fshadow%2Fupdate?qos=1\nHost: a-ats.iot.us-east-1.amazonaws.com\nContent-Type: application/json\n\n{\"state\":{}}",
    "ǅ\n/ሴ?ሴ=ሴ\nሴ: ሴ\n\nሴ",
];

/// Requests in the shapes the SDKs send (see tests/data/sdk_vectors.json).
const SEEDS: &[&str] = &[
    "GET\n/things?maxResults=10\nHost: iot.us-east-1.amazonaws.com\nX-Amz-Date: 20240315T123456Z\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIAFUZZ/20240315/us-east-1/iot/aws4_request, SignedHeaders=host;x-amz-date, Signature=800f2c804e9b5ef3ad679bd0000000000000000000000000000000000000000\n\n",
    "POST\n/things/raspi2\nHost: iot.us-east-1.amazonaws.com\nContent-Type: application/json\nUser-Agent: Botocore/1.44.5\nX-Amz-Security-Token: tok\nX-Amz-Date: 20240315T123456Z\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIAFUZZ/20240315/us-east-1/iot/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature=5ac304df60213ea51add910c1482d608b3f72aa7079417b775ea9abbeeafa393\nContent-Length: 67\n\n{\"attributePayload\": {\"attributes\": {\"floor\": \"3\", \"room\": \"lab\"}}}",
    "GET\n/mqtt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAFUZZ%2F20240315%2Fus-east-1%2Fiotdevicegateway%2Faws4_request&X-Amz-Date=20240315T123456Z&X-Amz-SignedHeaders=connection%3Bhost&X-Amz-Security-Token=tok%2F%2B%3D&X-Amz-Signature=68f58a54c1ffef37542daad0a1a252f11ef82a2d7972493d8dd96245c481ac36\nHost: a1b2c3d4e5f6g7-ats.iot.us-east-1.amazonaws.com\nUpgrade: websocket\nConnection: Upgrade\nSec-WebSocket-Key: Brd7/kfOR3tTCaDgrZgMxw==\nSec-WebSocket-Version: 13\nSec-WebSocket-Protocol: mqtt\n\n",
];

/// Inputs that once broke the body, minimised.
const REGRESSIONS: &[&[u8]] = &[];

#[test]
fn odd_inputs() {
    for input in ODD {
        check(input.as_bytes());
    }
    check(&[0xff, 0xfe, b'\n', b'/', 0x80]);
    check(format!("GET\n/{}\n\n", "a/".repeat(5_000)).as_bytes());
    check(format!("GET\n/?{}\n\n", "a=b&".repeat(2_000)).as_bytes());
    check(format!("GET\n/\n{}\n", "X: y\n".repeat(500)).as_bytes());
}

#[test]
fn regressions() {
    for input in REGRESSIONS {
        check(input);
    }
}

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn mutated_requests() {
    const BYTES: &[u8] = b"\n:;,=&?%/+ .~-_0123456789aAfFzZ\x1f\t\xc3\xa4";
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut runs = 0;
    for seed in SEEDS {
        check(seed.as_bytes());
        for _ in 0..1_200 {
            let mut data = seed.as_bytes().to_vec();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(data.len());
                match rng.below(4) {
                    0 => data[at] = BYTES[rng.below(BYTES.len())],
                    1 => data.insert(at, BYTES[rng.below(BYTES.len())]),
                    2 => {
                        data.remove(at);
                    }
                    _ => {
                        let end = (at + rng.below(16)).min(data.len());
                        let chunk = data[at..end].to_vec();
                        let to = rng.below(data.len());
                        data.splice(to..to, chunk);
                    }
                }
                if data.is_empty() {
                    data.push(b'\n');
                }
            }
            check(&data);
            runs += 1;
        }
    }
    assert_eq!(runs, 3_600);
}
