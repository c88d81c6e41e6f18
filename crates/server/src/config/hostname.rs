//! This machine's host name, for the default `tls.endpoint_names`.
//!
//! One `gethostname(2)` call; a crate for it would add more to the
//! dependency tree than it saves here.

pub fn get() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for `buf.len()` bytes; gethostname writes
    // at most that many and we only read up to the first NUL.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = std::str::from_utf8(&buf[..len]).ok()?.trim().to_owned();
    (!name.is_empty()).then_some(name)
}
