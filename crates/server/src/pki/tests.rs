//! PKI bootstrap, regeneration, permission refusal and device issuance.

use super::*;
use crate::error::Kind;

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "kumo-pki-{tag}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    fs::create_dir_all(&d).unwrap();
    d
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn bootstrap_then_reuse_then_regenerate_on_name_change() {
    let d = temp_dir("boot");
    let ca = CaDir::new(&d);
    let id = ensure_server_identity(&d, &names(&["localhost", "127.0.0.1"])).unwrap();
    assert_eq!(id.events.len(), 3, "{:?}", id.events);
    for key in ca.key_files() {
        assert_eq!(mode(&key), 0o600, "{}", key.display());
    }
    assert!(ca.root_cert().exists() && ca.device_cert().exists() && ca.server_cert().exists());
    let root_before = fs::read(ca.root_cert()).unwrap();
    let server_before = fs::read(ca.server_cert()).unwrap();

    let again = ensure_server_identity(&d, &names(&["localhost", "127.0.0.1"])).unwrap();
    assert!(again.events.is_empty(), "{:?}", again.events);
    assert_eq!(fs::read(ca.server_cert()).unwrap(), server_before);

    let changed = ensure_server_identity(&d, &names(&["localhost", "10.0.0.7"])).unwrap();
    assert_eq!(changed.events.len(), 1, "{:?}", changed.events);
    assert!(changed.events[0].contains("endpoint_names changed"));
    assert_ne!(fs::read(ca.server_cert()).unwrap(), server_before);
    assert_eq!(
        fs::read(ca.root_cert()).unwrap(),
        root_before,
        "the root CA is kept"
    );
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn readable_key_is_refused() {
    let d = temp_dir("perm");
    ensure_server_identity(&d, &names(&["localhost"])).unwrap();
    let key = CaDir::new(&d).root_key();
    fs::set_permissions(&key, fs::Permissions::from_mode(0o640)).unwrap();
    let err = ensure_server_identity(&d, &names(&["localhost"]))
        .err()
        .unwrap();
    assert_eq!(err.kind, Kind::Config);
    let msg = err.error.to_string();
    assert!(
        msg.contains("root-CA.key") && msg.contains("chmod 600"),
        "{msg}"
    );
    assert_eq!(check_existing(&d).err().unwrap().kind, Kind::Config);
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    check_existing(&d).unwrap();
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn missing_ca_cert_is_recreated_from_its_key() {
    let d = temp_dir("recreate");
    ensure_cas(&d).unwrap();
    let out = d.join("out");
    issue_device_cert(&d, "thing-1", &out).unwrap();
    fs::remove_file(CaDir::new(&d).device_cert()).unwrap();
    // The re-created CA certificate still verifies the old device cert,
    // because subject and key are unchanged.
    ensure_cas(&d).unwrap();
    let old = CertificateDer::from_pem_file(out.join("thing-1.cert.pem")).unwrap();
    verify_client_chain(&CaDir::new(&d).device_cert(), &old).unwrap();
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn issue_device_cert_writes_connect_kit_files() {
    let d = temp_dir("issue");
    let out = d.join("certs");
    let issued = issue_device_cert(&d, "my:thing_1", &out).unwrap();
    assert!(issued.cert.ends_with("my:thing_1.cert.pem"));
    assert!(issued.private_key.ends_with("my:thing_1.private.key"));
    assert!(issued.public_key.ends_with("my:thing_1.public.key"));
    assert_eq!(mode(&issued.private_key), 0o600);
    assert!(fs::read_to_string(&issued.public_key)
        .unwrap()
        .contains("PUBLIC KEY"));
    // Never overwrite; reject names that are not thing names.
    assert_eq!(
        issue_device_cert(&d, "my:thing_1", &out)
            .err()
            .unwrap()
            .kind,
        Kind::Config
    );
    assert_eq!(
        issue_device_cert(&d, "../x", &out).err().unwrap().kind,
        Kind::Config
    );
    fs::remove_dir_all(&d).unwrap();
}
