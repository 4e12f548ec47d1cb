//! `tollgate login` / `logout` through the shared device-flow client (its flow is tested in
//! helper/; here: the CLI wiring, the cache location and the one-line failures).

mod common;
#[path = "../../helper/tests/support/unreachable.rs"]
mod unreachable;

use unreachable::fails_in_one_line_when_unreachable;

fn tollgate(config: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> common::Run {
    let mut cmd = common::bin();
    cmd.args(args)
        .env("XDG_CONFIG_HOME", config)
        .env("TOLLGATE_NO_BROWSER", "1")
        .env_remove("TOLLGATE_URL");
    for (k, v) in env {
        cmd.env(k, v);
    }
    common::run_cmd(cmd)
}

#[test]
fn login_says_in_one_line_when_tollgate_is_unreachable() {
    fails_in_one_line_when_unreachable("error: ", |config, env| {
        let r = tollgate(config, &["login", "registry.example.com"], env);
        (Some(r.code), r.stderr)
    });
    let dir = tempfile::tempdir().unwrap();
    let r = tollgate(dir.path(), &["login", "not a host"], &[]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("is not a registry host"), "{}", r.stderr);
}

/// Writes a cached credential for 127.0.0.1:5000 issued by the Tollgate at `tollgate`.
#[cfg(unix)]
fn cache_credential(config: &std::path::Path, tollgate: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let creds = config.join("tollgate/credentials");
    std::fs::create_dir_all(&creds).unwrap();
    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o700)).unwrap();
    let file = creds.join("127.0.0.1_5000.json");
    std::fs::write(
        &file,
        format!(
            r#"{{"format":1,"registry":"127.0.0.1:5000","tollgate":"{tollgate}","service":"registry.local",
            "username":"sso-alice","password":"tgp_x","expires_at":4102444800,"obtained_at":1}}"#
        ),
    )
    .unwrap();
    file
}

/// A loopback port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[cfg(unix)]
#[test]
fn logout_revokes_at_tollgate_then_erases_the_cached_credential() {
    use std::io::{Read as _, Write as _};
    let dir = tempfile::tempdir().unwrap();
    let r = tollgate(dir.path(), &["logout", "127.0.0.1:5000"], &[]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "no cached credential for 127.0.0.1:5000\n")
    );
    // A Tollgate that answers the revocation with 200, recording what it was sent.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        // One small request: its head and form body arrive before the answer is written.
        while !String::from_utf8_lossy(&seen).contains("client_id=") {
            let n = conn.read(&mut buf).unwrap();
            assert!(n > 0, "connection closed early");
            seen.extend_from_slice(&buf[..n]);
        }
        conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}")
            .unwrap();
        String::from_utf8_lossy(&seen).into_owned()
    });
    let file = cache_credential(dir.path(), &base);
    let r = tollgate(dir.path(), &["logout", "127.0.0.1:5000"], &[]);
    r.succeeded();
    assert_eq!(
        r.stdout,
        format!("signed out of 127.0.0.1:5000: the credential of sso-alice is revoked at {base} and removed from this machine\n")
    );
    let request = server.join().unwrap();
    assert!(request.starts_with("POST /oauth/revoke "), "{request}");
    assert!(request.contains("token=tgp_x&"), "{request}");
    assert!(!file.exists());
}

#[cfg(unix)]
#[test]
fn logout_erases_the_file_and_says_so_when_tollgate_cannot_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let base = format!("http://127.0.0.1:{}", closed_port());
    let file = cache_credential(dir.path(), &base);
    let r = tollgate(dir.path(), &["logout", "127.0.0.1:5000"], &[]);
    r.succeeded();
    assert!(
        r.stdout.starts_with(&format!(
            "removed the cached credential of sso-alice for 127.0.0.1:5000, but could not revoke it at Tollgate ({base}/oauth/revoke: "
        )),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.ends_with(&format!(
            "it stays valid until 2100-01-01 00:00 UTC unless revoked on {base}/account\n"
        )),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("tgp_x"));
    assert!(!file.exists());
}
