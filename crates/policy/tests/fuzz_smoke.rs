//! The `policy_parse` fuzz body (fuzz/fuzz_targets/policy_parse.rs) over
//! fixed odd inputs and a few thousand deterministic mutations of valid
//! documents, so CI exercises it without cargo-fuzz.

#[path = "common/fuzz_body.rs"]
mod fuzz_body;

use fuzz_body::check;

const ODD: &[&str] = &[
    "",
    " ",
    "null",
    "[]",
    "{}",
    "\"Statement\"",
    "{\"Statement\":null}",
    "{\"Statement\":[]}",
    "{\"Statement\":[null]}",
    "{\"Statement\":{}}",
    "{\"Statement\":{\"Effect\":\"Allow\"}}",
    "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":[],\"Resource\":[]}}",
    "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\",\"Condition\":[]}}",
    "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\",\"Condition\":{\"Bool\":[]}}}",
    "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\",\"Condition\":{\"Bool\":{\"k\":{}}}}}",
    "{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"iot:*\",\"Resource\":\"arn:aws:iot:::topic/${\"}}",
    "{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"iot:*\",\"Resource\":\"arn:aws:iot:::topic/${}${${}}}\"}}",
    "{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"iot:*\",\"Resource\":\"arn:a:b:c:d:${iot:Certificate.Subject.CommonName.99999999999999999999999}\"}}",
    "{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"iot:*\",\"Resource\":\"arn:a:b:c:d:${iot:Connection.Thing.Attributes[}\"}}",
    "{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"iot:*\",\"Resource\":\"arn:a:b:c:d:********?*?*??\"}}",
    "{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"iot:*\",\"Resource\":\"*\",\"Condition\":{\"IpAddress\":{\"aws:SourceIp\":\"${aws:SourceIp}/99\"}}}}",
    "{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"iot:*\",\"Resource\":\"*\",\"Condition\":{\"NumericEquals\":{\"k\":1e400}}}}",
    "{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"iot:*\",\"Resource\":\"*\",\"Condition\":{\"ArnLike\":{\"iot:LastWillTopic\":\"${iot:ClientId}:::::\"}}}}",
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    "{\"a\":\"\\ud800\"}",
    "{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"iot:*\",\"Resource\":\"arn:é:ü:::\u{1F600}?\"}}",
];

const SEEDS: &[&str] = &[
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iot:Connect"],"Resource":["arn:aws:iot:us-east-1:123456789012:client/${iot:Connection.Thing.ThingName}"]},{"Effect":"Allow","Action":["iot:Publish"],"Resource":["arn:aws:iot:us-east-1:123456789012:topic/${iot:ClientId}/*"]},{"Effect":"Deny","Action":"iot:Publish","Resource":"arn:aws:iot:us-east-1:123456789012:topic/${iot:ClientId}/bar"}]}"#,
    r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:*","Resource":"*","Condition":{"ForAnyValue:StringLike":{"iot:Certificate.Subject.CommonName.List":["fuzz*","x?y"]},"IpAddress":{"aws:SourceIp":["10.0.0.0/8","2001:db8::/32"]},"Bool":{"iot:Connection.Thing.IsAttached":"true"},"StringEqualsIfExists":{"iot:Connection.Thing.Attributes[floor]":"3"},"ArnLike":{"iot:LastWillTopic":"arn:aws:iot:*:*:topic/*"},"NumericLessThan":{"k":"5"},"Null":{"iot:CertificateId":"false"}}}}"#,
    r#"{"Version":"2008-10-17","Statement":{"Effect":"Deny","NotAction":["iot:Get*","iotjobsdata:?escribe*"],"NotResource":"arn:aws:iot:us-east-1:123456789012:thing/${*}${?}${$}"}}"#,
];

#[test]
fn odd_inputs_do_not_panic() {
    for input in ODD {
        check(input.as_bytes());
    }
    check(&[0xff, 0xfe, b'{']);
    check(&"{".repeat(10_000).into_bytes());
    check(&format!("\"{}\"", "*?".repeat(5_000)).into_bytes());
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
fn mutated_documents_do_not_panic() {
    const BYTES: &[u8] = b"{}[]\",:*?$+#/.\\ 0123456789aZ-";
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for seed in SEEDS {
        check(seed.as_bytes());
        for _ in 0..1_500 {
            let mut data = seed.as_bytes().to_vec();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(data.len());
                match rng.below(4) {
                    0 => data[at] = BYTES[rng.below(BYTES.len())],
                    1 => data.insert(at, BYTES[rng.below(BYTES.len())]),
                    2 => {
                        data.remove(at);
                    }
                    _ => data.truncate(at),
                }
                if data.is_empty() {
                    break;
                }
            }
            check(&data);
        }
    }
}
