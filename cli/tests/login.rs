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

#[cfg(unix)]
#[test]
fn logout_erases_the_cached_credential() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let r = tollgate(dir.path(), &["logout", "127.0.0.1:5000"], &[]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "no cached credential for 127.0.0.1:5000\n")
    );
    let creds = dir.path().join("tollgate/credentials");
    std::fs::create_dir_all(&creds).unwrap();
    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o700)).unwrap();
    let file = creds.join("127.0.0.1_5000.json");
    std::fs::write(
        &file,
        r#"{"format":1,"registry":"127.0.0.1:5000","tollgate":"http://127.0.0.1:8787","service":"registry.local",
            "username":"sso-alice","password":"tgp_x","expires_at":4102444800,"obtained_at":1}"#,
    )
    .unwrap();
    let r = tollgate(dir.path(), &["logout", "127.0.0.1:5000"], &[]);
    r.succeeded();
    assert_eq!(
        r.stdout,
        "removed the cached credential of sso-alice for 127.0.0.1:5000; it stays valid until 2100-01-01 00:00 UTC unless revoked on http://127.0.0.1:8787/account\n"
    );
    assert!(!file.exists());
}
