//! The device's offline-queue file format and its PEM/DER conversion: any
//! bytes are decoded or refused without a panic, and what `encode` writes
//! decodes to what went in.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = kumo_device::queue::decode(data);
    let _ = kumo_device::convert::convert_bytes(data);
    if let Some((&split, rest)) = data.split_first() {
        let cut = (split as usize).min(rest.len());
        if let Ok(topic) = std::str::from_utf8(&rest[..cut]) {
            let payload = &rest[cut..];
            let bytes = kumo_device::queue::encode(topic, payload, split & 1 == 1);
            let (t, p, r) = kumo_device::queue::decode(&bytes).expect("own encoding decodes");
            assert_eq!((t.as_str(), p.as_slice(), r), (topic, payload, split & 1 == 1));
        }
    }
});
