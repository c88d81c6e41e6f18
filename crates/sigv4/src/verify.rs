//! verify(): parse either form into one `Claim`, then check it (crate docs,
//! "Order of checks").

use crate::canonical::{self, Param, Parts};
use crate::crypto;
use crate::time::{format_iso_basic, parse_http_date, parse_iso_basic};
use crate::{KeyLookup, Policy, Request, SigV4Error, Verified, MAX_EXPIRES_SECS, UNSIGNED_PAYLOAD};

pub(crate) const ALGORITHM: &str = "AWS4-HMAC-SHA256";
pub(crate) const TERMINATOR: &str = "aws4_request";
pub(crate) const Q_ALGORITHM: &str = "X-Amz-Algorithm";
pub(crate) const Q_CREDENTIAL: &str = "X-Amz-Credential";
pub(crate) const Q_DATE: &str = "X-Amz-Date";
pub(crate) const Q_EXPIRES: &str = "X-Amz-Expires";
pub(crate) const Q_SIGNED_HEADERS: &str = "X-Amz-SignedHeaders";
pub(crate) const Q_SIGNATURE: &str = "X-Amz-Signature";
pub(crate) const Q_SECURITY_TOKEN: &str = "X-Amz-Security-Token";

/// Query parameters whose presence makes a request presigned.
pub(crate) const PRESIGN_MARKERS: [&str; 3] = [Q_ALGORITHM, Q_CREDENTIAL, Q_SIGNATURE];

/// What a request claims, whichever form it came in.
struct Claim {
    access_key_id: String,
    scope_date: String,
    region: String,
    service: String,
    terminator: String,
    /// Request time as signed (ISO 8601 basic) and as a Unix time.
    timestamp: String,
    time: i64,
    signed_headers: Vec<String>,
    signature: String,
    /// Presigned only: `X-Amz-Expires`, if given.
    expires: Option<u64>,
    presigned: bool,
    security_token: Option<String>,
}

fn first_header<'a>(req: &Request<'a>, name: &str) -> Option<&'a str> {
    req.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}

fn param<'p>(params: &'p [Param], name: &str) -> Option<&'p Param> {
    params.iter().find(|p| p.key == name.as_bytes())
}

fn param_str(params: &[Param], name: &str) -> Option<String> {
    param(params, name).map(|p| String::from_utf8_lossy(&p.value).into_owned())
}

/// Check `req` against `policy` at `now_unix` (seconds since the Unix epoch).
pub fn verify(
    req: &Request<'_>,
    keys: &impl KeyLookup,
    now_unix: u64,
    policy: &Policy<'_>,
) -> Result<Verified, SigV4Error> {
    let params = canonical::parse_query(req.raw_query);
    let claim = parse(req, &params)?;
    check_scope(&claim, policy)?;
    check_time(&claim, now_unix, policy)?;
    let secret =
        keys.secret(&claim.access_key_id)
            .ok_or_else(|| SigV4Error::UnrecognizedClient {
                access_key_id: claim.access_key_id.clone(),
            })?;
    let (payload_hash, unchecked) = payload_hash(req)?;
    let key = crypto::signing_key(
        secret.expose_secret(),
        &claim.scope_date,
        &claim.region,
        &claim.service,
    );
    let scope = format!(
        "{}/{}/{}/{}",
        claim.scope_date, claim.region, claim.service, claim.terminator
    );
    let attempt = |exclude: &[&str]| -> Result<bool, SigV4Error> {
        let query = canonical::canonical_query(&params, exclude);
        let creq = canonical::canonical_request(&Parts {
            method: req.method,
            raw_path: req.raw_path,
            query: &query,
            headers: req.headers,
            signed: &claim.signed_headers,
            payload_hash: &payload_hash,
        })
        .map_err(SigV4Error::SignedHeaderMissing)?;
        let sts = canonical::string_to_sign(&claim.timestamp, &scope, &creq);
        Ok(crypto::signatures_match(
            &crypto::signature_hex(&key, &sts),
            &claim.signature,
        ))
    };
    let mut ok = attempt(&[Q_SIGNATURE])?;
    if !ok && claim.presigned && param(&params, Q_SECURITY_TOKEN).is_some() {
        // The IoT Device SDKs append the token after signing.
        ok = attempt(&[Q_SIGNATURE, Q_SECURITY_TOKEN])?;
    }
    if !ok {
        return Err(SigV4Error::SignatureMismatch);
    }
    Ok(Verified {
        access_key_id: claim.access_key_id,
        service: claim.service,
        region: claim.region,
        date: claim.timestamp,
        presigned: claim.presigned,
        security_token: claim.security_token,
        body_sha256_unchecked: unchecked,
    })
}

/// The canonical request verify() would compute for `req` signed over
/// `signed_headers` (`host;x-amz-date`, as in SignedHeaders), for
/// diagnostics: AWS puts it in some error responses, and comparing it with
/// the client's (botocore logs it at DEBUG) finds canonicalisation bugs.
/// The query leaves out `X-Amz-Signature`, as for a presigned request.
pub fn canonical_request(req: &Request<'_>, signed_headers: &str) -> Result<String, SigV4Error> {
    let params = canonical::parse_query(req.raw_query);
    let (payload_hash, _) = payload_hash(req)?;
    let signed = split_signed_headers(signed_headers);
    canonical::canonical_request(&Parts {
        method: req.method,
        raw_path: req.raw_path,
        query: &canonical::canonical_query(&params, &[Q_SIGNATURE]),
        headers: req.headers,
        signed: &signed,
        payload_hash: &payload_hash,
    })
    .map_err(SigV4Error::SignedHeaderMissing)
}

fn split_signed_headers(s: &str) -> Vec<String> {
    s.split(';').map(|n| n.to_ascii_lowercase()).collect()
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The payload hash the canonical request ends with, and the hash the caller
/// still has to check (when it has not read the body).
fn payload_hash(req: &Request<'_>) -> Result<(String, Option<String>), SigV4Error> {
    match (first_header(req, "x-amz-content-sha256"), req.body_sha256) {
        (Some(h), _) if h == UNSIGNED_PAYLOAD => Ok((h.to_string(), None)),
        (Some(h), Some(body)) if is_hex64(h) && h.eq_ignore_ascii_case(body) => {
            Ok((h.to_string(), None))
        }
        (Some(h), None) if is_hex64(h) => Ok((h.to_string(), Some(h.to_ascii_lowercase()))),
        (Some(_), _) => Err(SigV4Error::PayloadHashMismatch),
        (None, Some(body)) => Ok((body.to_string(), None)),
        (None, None) => Err(SigV4Error::PayloadHashUnavailable),
    }
}

fn parse(req: &Request<'_>, params: &[Param]) -> Result<Claim, SigV4Error> {
    let presigned = PRESIGN_MARKERS.iter().any(|m| param(params, m).is_some());
    match (first_header(req, "authorization"), presigned) {
        (Some(_), true) => Err(SigV4Error::AmbiguousAuthentication),
        (None, false) => Err(SigV4Error::MissingAuthenticationToken),
        (Some(auth), false) => parse_header_form(req, auth),
        (None, true) => parse_presigned(params),
    }
}

/// `AKID/date/region/service/terminator`.
fn split_credential(credential: &str) -> Result<[String; 5], SigV4Error> {
    let parts: Vec<&str> = credential.split('/').collect();
    match parts.as_slice() {
        [a, b, c, d, e] => Ok([a, b, c, d, e].map(|s| s.to_string())),
        _ => Err(SigV4Error::CredentialMalformed(credential.to_string())),
    }
}

fn parse_header_form(req: &Request<'_>, auth: &str) -> Result<Claim, SigV4Error> {
    let auth_trimmed = auth.trim();
    let (algorithm, rest) = auth_trimmed
        .split_once(|c: char| c.is_ascii_whitespace())
        .unwrap_or((auth_trimmed, ""));
    if algorithm != ALGORITHM {
        return Err(SigV4Error::UnsupportedAlgorithm(algorithm.to_string()));
    }
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((k, v)) = part.split_once('=') else {
            return Err(SigV4Error::AuthorizationPairInvalid {
                pair: part.to_string(),
                authorization: auth.to_string(),
            });
        };
        // The first of a repeated parameter wins; later ones are ignored.
        let slot = match k.trim() {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => continue,
        };
        slot.get_or_insert(v.trim());
    }
    let date = first_header(req, "x-amz-date")
        .map(|d| (d, false))
        .or_else(|| first_header(req, "date").map(|d| (d, true)));
    let (Some(credential), Some(signed_headers), Some(signature), Some((date, is_http_date))) =
        (credential, signed_headers, signature, date)
    else {
        return Err(SigV4Error::AuthorizationIncomplete {
            missing_credential: credential.is_none(),
            missing_signature: signature.is_none(),
            missing_signed_headers: signed_headers.is_none(),
            missing_date: date.is_none(),
            authorization: auth.to_string(),
        });
    };
    let time = parse_iso_basic(date.trim())
        .or_else(|| {
            if is_http_date {
                parse_http_date(date)
            } else {
                None
            }
        })
        .ok_or_else(|| SigV4Error::DateMalformed(date.to_string()))?;
    claim(
        credential,
        signed_headers,
        time,
        signature.to_string(),
        None,
        first_header(req, "x-amz-security-token").map(str::to_string),
    )
}

fn parse_presigned(params: &[Param]) -> Result<Claim, SigV4Error> {
    let required =
        |name: &'static str| param_str(params, name).ok_or(SigV4Error::QueryParameterMissing(name));
    let algorithm = required(Q_ALGORITHM)?;
    if algorithm != ALGORITHM {
        return Err(SigV4Error::UnsupportedAlgorithm(algorithm));
    }
    let credential = required(Q_CREDENTIAL)?;
    let signature = required(Q_SIGNATURE)?;
    let signed_headers = required(Q_SIGNED_HEADERS)?;
    let date = required(Q_DATE)?;
    let time = parse_iso_basic(&date).ok_or_else(|| SigV4Error::DateMalformed(date.clone()))?;
    let expires = match param_str(params, Q_EXPIRES) {
        None => None,
        Some(e) => Some(parse_expires(&e)?),
    };
    claim(
        &credential,
        &signed_headers,
        time,
        signature,
        Some(expires),
        param_str(params, Q_SECURITY_TOKEN),
    )
}

/// What both forms claim, from their common parts: the credential scope,
/// the signed headers (which must include `host`), the time. `expires` is
/// `Some` for the presigned form (its `X-Amz-Expires`, if given).
fn claim(
    credential: &str,
    signed_headers: &str,
    time: i64,
    signature: String,
    expires: Option<Option<u64>>,
    security_token: Option<String>,
) -> Result<Claim, SigV4Error> {
    let [access_key_id, scope_date, region, service, terminator] = split_credential(credential)?;
    let signed_headers = split_signed_headers(signed_headers);
    if !signed_headers.iter().any(|h| h == "host") {
        return Err(SigV4Error::HostNotSigned);
    }
    Ok(Claim {
        access_key_id,
        scope_date,
        region,
        service,
        terminator,
        timestamp: format_iso_basic(time),
        time,
        signed_headers,
        signature,
        presigned: expires.is_some(),
        expires: expires.flatten(),
        security_token,
    })
}

fn parse_expires(e: &str) -> Result<u64, SigV4Error> {
    if e.is_empty() || !e.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SigV4Error::ExpiresInvalid(
            "X-Amz-Expires should be a number".to_string(),
        ));
    }
    let n = e.bytes().fold(0u64, |acc, b| {
        acc.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    });
    if n == 0 {
        return Err(SigV4Error::ExpiresInvalid(
            "X-Amz-Expires must be non-negative".to_string(),
        ));
    }
    if n > MAX_EXPIRES_SECS {
        return Err(SigV4Error::ExpiresInvalid(format!(
            "X-Amz-Expires must be less than a week (in seconds) that is {MAX_EXPIRES_SECS}"
        )));
    }
    Ok(n)
}

fn check_scope(c: &Claim, policy: &Policy<'_>) -> Result<(), SigV4Error> {
    let wrong_region = (c.region.is_empty() || policy.region.is_some_and(|r| r != c.region))
        .then(|| c.region.clone());
    let expected_service = (!policy.services.contains(&c.service.as_str()))
        .then(|| policy.services.first().copied().unwrap_or("").to_string());
    let wrong_terminator = (c.terminator != TERMINATOR).then(|| c.terminator.clone());
    let request_date = &c.timestamp[..8];
    let date_mismatch =
        (c.scope_date != request_date).then(|| (c.scope_date.clone(), request_date.to_string()));
    if wrong_region.is_none()
        && expected_service.is_none()
        && wrong_terminator.is_none()
        && date_mismatch.is_none()
    {
        return Ok(());
    }
    Err(SigV4Error::CredentialScope {
        wrong_region,
        expected_service,
        wrong_terminator,
        date_mismatch,
    })
}

fn check_time(c: &Claim, now_unix: u64, policy: &Policy<'_>) -> Result<(), SigV4Error> {
    let now = i128::from(now_unix);
    let skew = i128::from(policy.max_skew_secs);
    let t = i128::from(c.time);
    let show = |x: i128| {
        format_iso_basic(x.clamp(i128::from(i64::MIN / 2), i128::from(i64::MAX / 2)) as i64)
    };
    let minutes = policy.max_skew_secs / 60;
    if t > now + skew {
        return Err(SigV4Error::SignatureNotYetCurrent {
            signed: c.timestamp.clone(),
            latest: show(now + skew),
            now: show(now),
            minutes,
        });
    }
    match c.expires {
        Some(e) if now > t + i128::from(e) => Err(SigV4Error::RequestExpired {
            expired_at: show(t + i128::from(e)),
        }),
        Some(_) => Ok(()),
        None if t + skew < now => Err(SigV4Error::SignatureExpired {
            signed: c.timestamp.clone(),
            earliest: show(now - skew),
            now: show(now),
            minutes,
        }),
        None => Ok(()),
    }
}
