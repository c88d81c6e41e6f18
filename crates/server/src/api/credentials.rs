//! Kumo's admin credentials: the access key the HTTPS API accepts SigV4
//! signatures from.
//!
//! Created at the first start as `<data_dir>/credentials`, in the AWS
//! shared-credentials format under the profile `kumo`, mode 0600, so the
//! AWS tools can use the file as it is:
//!
//! ```sh
//! AWS_SHARED_CREDENTIALS_FILE=kumo-data/credentials AWS_PROFILE=kumo \
//!     aws iot list-things --endpoint-url https://localhost:8443 --ca-bundle kumo-data/ca/root-CA.crt
//! ```
//!
//! Like the CA keys next to it, the file is refused when other users may
//! read it.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};

/// The profile name in the credentials file.
pub const PROFILE: &str = "kumo";

/// An access key pair.
#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("credentials")
}

/// Load the credentials, creating them if there are none. Returns them and
/// whether they were just created.
pub fn ensure(data_dir: &Path) -> anyhow::Result<(Credentials, bool)> {
    let p = path(data_dir);
    if p.exists() {
        return Ok((load(&p)?, false));
    }
    let creds = generate()?;
    write(&p, &creds)?;
    Ok((creds, true))
}

/// Replace the credentials with new ones (`kumo admin keys`).
pub fn rotate(data_dir: &Path) -> anyhow::Result<Credentials> {
    let creds = generate()?;
    write(&path(data_dir), &creds)?;
    Ok(creds)
}

fn generate() -> anyhow::Result<Credentials> {
    // AWS's shapes: "AKIA" + 16 of [A-Z2-7]; 40 of [A-Za-z0-9+/].
    const ID: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    const SECRET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut random = [0u8; 56];
    aws_lc_rs::rand::fill(&mut random)
        .map_err(|_| anyhow!("the system random number generator failed"))?;
    let pick = |alphabet: &[u8], bytes: &[u8]| -> String {
        bytes
            .iter()
            .map(|b| alphabet[*b as usize % alphabet.len()] as char)
            .collect()
    };
    Ok(Credentials {
        access_key_id: format!("AKIA{}", pick(ID, &random[..16])),
        secret_access_key: pick(SECRET, &random[16..]),
    })
}

fn write(p: &Path, c: &Credentials) -> anyhow::Result<()> {
    let tmp = p.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    write!(
        f,
        "# Kumo's admin credentials for its AWS-compatible API (SigV4).\n\
         # Use with AWS_SHARED_CREDENTIALS_FILE=<this file> AWS_PROFILE={PROFILE}.\n\
         [{PROFILE}]\n\
         aws_access_key_id = {}\n\
         aws_secret_access_key = {}\n",
        c.access_key_id, c.secret_access_key
    )?;
    f.sync_all()?;
    std::fs::rename(&tmp, p).with_context(|| format!("cannot write {}", p.display()))?;
    Ok(())
}

fn load(p: &Path) -> anyhow::Result<Credentials> {
    let meta = std::fs::metadata(p).with_context(|| format!("cannot read {}", p.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        bail!(
            "{}: readable by other users (mode {:o}); run `chmod 600 {}`",
            p.display(),
            meta.permissions().mode() & 0o777,
            p.display()
        );
    }
    let text =
        std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
    let (mut id, mut secret) = (None, None);
    for line in text.lines() {
        if let Some((k, v)) = line.split_once('=') {
            match k.trim() {
                "aws_access_key_id" => id = Some(v.trim().to_owned()),
                "aws_secret_access_key" => secret = Some(v.trim().to_owned()),
                _ => {}
            }
        }
    }
    match (id, secret) {
        (Some(access_key_id), Some(secret_access_key))
            if !access_key_id.is_empty() && !secret_access_key.is_empty() =>
        {
            Ok(Credentials {
                access_key_id,
                secret_access_key,
            })
        }
        _ => Err(anyhow!(
            "{}: no aws_access_key_id / aws_secret_access_key (delete it to have new ones made)",
            p.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_private_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let (a, created) = ensure(dir.path()).unwrap();
        assert!(created);
        assert!(a.access_key_id.starts_with("AKIA") && a.access_key_id.len() == 20);
        assert_eq!(a.secret_access_key.len(), 40);
        let mode = std::fs::metadata(path(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let (b, created) = ensure(dir.path()).unwrap();
        assert!(!created);
        assert_eq!(
            (a.access_key_id.as_str(), a.secret_access_key.as_str()),
            (b.access_key_id.as_str(), b.secret_access_key.as_str())
        );
        let c = rotate(dir.path()).unwrap();
        assert_ne!(c.access_key_id, a.access_key_id);
        std::fs::set_permissions(path(dir.path()), std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = ensure(dir.path()).unwrap_err().to_string();
        assert!(e.contains("readable by other users"), "{e}");
    }
}
