//! The canonical request, byte for byte as botocore builds it.
//!
//! Sources, read in botocore 1.44.5 `botocore/auth.py` (`SigV4Auth`) and
//! `botocore/utils.py`:
//!
//! * URI: `quote(normalize_url_path(urlsplit(url).path), safe='/~')`, where
//!   `normalize_url_path` is `remove_dot_segments` (RFC 3986 §5.2.4 plus
//!   dropping empty segments, "AWS services require consecutive slashes to be
//!   removed") and `quote` percent-encodes every byte but `A-Za-z0-9_.-~/`.
//!   The path is the one on the wire, still encoded, so an encoded `%2F`
//!   stays one segment and its `%` is encoded again: iot-data's
//!   `POST /topics/%24aws%2Fthings%2Fx%2Fshadow%2Fupdate` signs
//!   `/topics/%2524aws%252Fthings%252Fx%252Fshadow%252Fupdate` (seen in the
//!   canonical request botocore logs; `tests/data/sdk_vectors.json`).
//! * Query: botocore signs the query it put on the URL, which it encoded with
//!   `quote(v, safe='-_.~')`; AWS decodes and re-encodes. Decoding and
//!   re-encoding (`+` is a literal plus, never a space) is the same thing for
//!   every query an SDK sends and also covers raw bytes such as the test
//!   suite's `?ሴ=bar`. Pairs sort by encoded key, then encoded value; a key
//!   without `=` gets an empty value (`k=`). Empty segments (`a=1&&b=2`) are
//!   skipped. A `%` not followed by two hex digits is kept as a literal `%`.
//! * Headers: `name:value` per signed header, in the order SignedHeaders
//!   lists them (SDKs sort), names lower-cased, each value with surrounding
//!   whitespace removed and inner runs collapsed to one space (Python's
//!   `' '.join(v.split())`, whose whitespace includes `\x1c`–`\x1f` and the
//!   Unicode spaces), repeated headers joined with `,` in arrival order.

use crate::crypto;

/// Bytes left bare by AWS's URI encoding.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Percent-encode `bytes` into `out`, leaving unreserved bytes (and `/` when
/// `keep_slash`) bare. Hex digits are upper case, as AWS requires.
pub(crate) fn encode_into(out: &mut String, bytes: &[u8], keep_slash: bool) {
    for &b in bytes {
        if is_unreserved(b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX_UPPER[usize::from(b >> 4)] as char);
            out.push(HEX_UPPER[usize::from(b & 0x0f)] as char);
        }
    }
}

/// `encode_into` for a whole string, `/` encoded too (query keys and values).
pub(crate) fn encode(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    encode_into(&mut out, s, false);
    out
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decode; `+` stays `+`; a malformed escape stays as it is.
pub(crate) fn decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex_val(b[i + 1]), hex_val(b[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// botocore's `remove_dot_segments` (utils.py): resolve `.` and `..`, drop
/// empty segments, keep a leading `/` and a trailing `/` (when anything is
/// left). An empty path is `/` (`normalize_url_path`).
fn normalize_path(path: &str) -> String {
    if path.is_empty() {
        return "/".to_string();
    }
    let mut segments: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(path.len());
    if path.starts_with('/') {
        out.push('/');
    }
    out.push_str(&segments.join("/"));
    if path.ends_with('/') && !segments.is_empty() {
        out.push('/');
    }
    out
}

/// The canonical URI of a path as received.
pub(crate) fn canonical_uri(raw_path: &str) -> String {
    let normalized = normalize_path(raw_path);
    let mut out = String::with_capacity(normalized.len() + 8);
    encode_into(&mut out, normalized.as_bytes(), true);
    out
}

/// One query parameter, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Param {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

/// Split and decode a raw query string.
pub(crate) fn parse_query(raw: &str) -> Vec<Param> {
    raw.split('&')
        .filter(|seg| !seg.is_empty())
        .map(|seg| {
            let (k, v) = seg.split_once('=').unwrap_or((seg, ""));
            Param {
                key: decode(k),
                value: decode(v),
            }
        })
        .collect()
}

/// The canonical query string of `params`, leaving out those whose decoded
/// key is in `exclude`.
pub(crate) fn canonical_query(params: &[Param], exclude: &[&str]) -> String {
    let mut pairs: Vec<(String, String)> = params
        .iter()
        .filter(|p| !exclude.iter().any(|x| p.key == x.as_bytes()))
        .map(|p| (encode(&p.key), encode(&p.value)))
        .collect();
    pairs.sort();
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// Whitespace as Python's `str.split()` sees it.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `' '.join(value.split())`, appended to `out`.
fn trim_all_into(out: &mut String, value: &str) {
    let mut first = true;
    for word in value.split(is_py_space).filter(|w| !w.is_empty()) {
        if !first {
            out.push(' ');
        }
        out.push_str(word);
        first = false;
    }
}

/// The canonical header block (without the blank line that follows it) for
/// the lower-case `signed` names, or the first signed name the request lacks.
pub(crate) fn canonical_headers(
    headers: &[(&str, &str)],
    signed: &[String],
) -> Result<String, String> {
    let mut out = String::new();
    for (i, name) in signed.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(name);
        out.push(':');
        let mut found = false;
        for (n, v) in headers {
            if n.eq_ignore_ascii_case(name) {
                if found {
                    out.push(',');
                }
                trim_all_into(&mut out, v);
                found = true;
            }
        }
        if !found {
            return Err(name.clone());
        }
    }
    Ok(out)
}

/// Everything the canonical request is made of.
pub(crate) struct Parts<'a> {
    pub method: &'a str,
    pub raw_path: &'a str,
    pub query: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub signed: &'a [String],
    pub payload_hash: &'a str,
}

/// The canonical request, or the first signed header the request lacks.
pub(crate) fn canonical_request(p: &Parts<'_>) -> Result<String, String> {
    let headers = canonical_headers(p.headers, p.signed)?;
    let mut out = String::with_capacity(256 + headers.len());
    out.push_str(&p.method.to_ascii_uppercase());
    out.push('\n');
    out.push_str(&canonical_uri(p.raw_path));
    out.push('\n');
    out.push_str(p.query);
    out.push('\n');
    out.push_str(&headers);
    out.push_str("\n\n");
    out.push_str(&p.signed.join(";"));
    out.push('\n');
    out.push_str(p.payload_hash);
    Ok(out)
}

/// The string to sign for a canonical request.
pub(crate) fn string_to_sign(timestamp: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256\n{timestamp}\n{scope}\n{}",
        crypto::sha256_hex(canonical_request.as_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_is_encoded_again() {
        assert_eq!(
            canonical_uri("/topics/%24aws%2Fthings%2Fx%2Fshadow%2Fupdate"),
            "/topics/%2524aws%252Fthings%252Fx%252Fshadow%252Fupdate"
        );
        assert_eq!(canonical_uri("/example space/"), "/example%20space/");
        assert_eq!(canonical_uri("/ሴ"), "/%E1%88%B4");
        assert_eq!(canonical_uri("/a+b=c;d"), "/a%2Bb%3Dc%3Bd");
    }

    #[test]
    fn paths_are_normalized_like_botocore() {
        for (raw, want) in [
            ("", "/"),
            ("/", "/"),
            ("//", "/"),
            ("/./", "/"),
            ("/example/..", "/"),
            ("/example1/example2/../..", "/"),
            ("/./example", "/example"),
            ("//example//", "/example/"),
            ("/a/../../b", "/b"),
            ("a/b", "a/b"),
            (".", ""),
            ("/%2E%2E/x", "/%252E%252E/x"),
        ] {
            assert_eq!(canonical_uri(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn query_is_decoded_reencoded_and_sorted() {
        let q = |raw| canonical_query(&parse_query(raw), &[]);
        assert_eq!(q(""), "");
        assert_eq!(q("b=2&a=1"), "a=1&b=2");
        assert_eq!(q("a=2&a=1&A=3"), "A=3&a=1&a=2");
        assert_eq!(q("k"), "k=");
        assert_eq!(q("k="), "k=");
        assert_eq!(q("a=1&&b=2&"), "a=1&b=2");
        assert_eq!(q("a=b+c"), "a=b%2Bc");
        assert_eq!(q("a=b%20c"), "a=b%20c");
        assert_eq!(q("a=%7e%2f"), "a=~%2F");
        assert_eq!(q("a=100%"), "a=100%25");
        assert_eq!(q("a=%zz%4"), "a=%25zz%254");
        assert_eq!(q("ሴ=bar"), "%E1%88%B4=bar");
        assert_eq!(q("x==y"), "x=%3Dy");
        assert_eq!(
            canonical_query(
                &parse_query("X-Amz-Signature=abc&a=1"),
                &["X-Amz-Signature"]
            ),
            "a=1"
        );
    }

    #[test]
    fn decode_handles_truncated_escapes() {
        assert_eq!(decode("%"), b"%");
        assert_eq!(decode("%4"), b"%4");
        assert_eq!(decode("%41"), b"A");
        assert_eq!(decode("a%4"), b"a%4");
    }

    #[test]
    fn header_values_are_trimmed_and_joined() {
        let headers = [
            ("Host", "example.com"),
            ("My-Header", "  a   b\tc  "),
            ("my-header", "d\u{1f}e"),
            ("X", ""),
        ];
        let signed = ["host".to_string(), "my-header".to_string(), "x".to_string()];
        assert_eq!(
            canonical_headers(&headers, &signed).unwrap(),
            "host:example.com\nmy-header:a b c,d e\nx:"
        );
        let missing = ["host".to_string(), "nope".to_string()];
        assert_eq!(
            canonical_headers(&headers, &missing),
            Err("nope".to_string())
        );
    }
}
