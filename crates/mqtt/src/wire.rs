//! Primitive data types of §1.5: integers, variable byte integers, UTF-8
//! strings, binary data, string pairs. Reading is over a `Bytes` cursor so
//! binary fields are slices, not copies.

use bytes::{Buf, BufMut, Bytes};

use crate::{DecodeError, MAX_VARINT};

pub(crate) type Result<T> = std::result::Result<T, DecodeError>;

const SHORT: DecodeError = DecodeError::Malformed("packet shorter than its contents");

pub(crate) fn read_u8(b: &mut Bytes) -> Result<u8> {
    if b.remaining() < 1 {
        return Err(SHORT);
    }
    Ok(b.get_u8())
}

pub(crate) fn read_u16(b: &mut Bytes) -> Result<u16> {
    if b.remaining() < 2 {
        return Err(SHORT);
    }
    Ok(b.get_u16())
}

pub(crate) fn read_u32(b: &mut Bytes) -> Result<u32> {
    if b.remaining() < 4 {
        return Err(SHORT);
    }
    Ok(b.get_u32())
}

/// Variable Byte Integer (§1.5.5): at most four bytes.
pub(crate) fn read_varint(b: &mut Bytes) -> Result<u32> {
    let mut value: u32 = 0;
    for i in 0..4 {
        let byte = read_u8(b)?;
        value |= u32::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(DecodeError::Malformed(
        "variable byte integer longer than 4 bytes",
    ))
}

pub(crate) fn read_binary(b: &mut Bytes) -> Result<Bytes> {
    let len = read_u16(b)? as usize;
    if b.remaining() < len {
        return Err(SHORT);
    }
    Ok(b.split_to(len))
}

/// A UTF-8 string as §1.5.4 defines it: well-formed UTF-8 (no surrogates, which
/// Rust's validation already refuses) and no U+0000.
pub(crate) fn check_utf8(raw: &[u8]) -> Result<&str> {
    let s = std::str::from_utf8(raw).map_err(|_| DecodeError::Malformed("invalid UTF-8 string"))?;
    if s.contains('\0') {
        return Err(DecodeError::Malformed("UTF-8 string contains U+0000"));
    }
    Ok(s)
}

pub(crate) fn read_string(b: &mut Bytes) -> Result<String> {
    let raw = read_binary(b)?;
    Ok(check_utf8(&raw)?.to_owned())
}

pub(crate) fn varint_len(value: u32) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

pub(crate) fn put_varint(out: &mut impl BufMut, mut value: u32) {
    debug_assert!(value <= MAX_VARINT);
    loop {
        let mut byte = (value % 128) as u8;
        value /= 128;
        if value > 0 {
            byte |= 0x80;
        }
        out.put_u8(byte);
        if value == 0 {
            break;
        }
    }
}

pub(crate) fn put_binary(out: &mut impl BufMut, data: &[u8]) {
    debug_assert!(data.len() <= u16::MAX as usize);
    out.put_u16(data.len() as u16);
    out.put_slice(data);
}

/// Parse the fixed header at the start of `buf` without consuming it.
/// Returns (first byte, remaining length, header length), or None if more bytes
/// are needed to know.
pub(crate) fn peek_fixed_header(buf: &[u8]) -> Result<Option<(u8, usize, usize)>> {
    if buf.is_empty() {
        return Ok(None);
    }
    let mut value: usize = 0;
    for i in 0..4 {
        let Some(&byte) = buf.get(1 + i) else {
            return Ok(None);
        };
        value |= usize::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some((buf[0], value, 2 + i)));
        }
    }
    Err(DecodeError::Malformed(
        "remaining length longer than 4 bytes",
    ))
}
