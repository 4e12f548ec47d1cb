//! `tollgate token inspect` on tokens signed by node:crypto (tests/support/make-inspect-fixtures.cjs),
//! not by Tollgate, against the published keys as a JWKS, a PEM bundle and an http URL.

mod common;

use common::*;
use std::io::{Read as _, Write as _};
use std::path::PathBuf;

/// Inside the fixtures' validity window: nbf 2000000000, exp 2000000300.
const NOW: &str = "2000000100";

fn dir() -> PathBuf {
    common::crate_dir().join("tests/fixtures/inspect")
}

fn token(name: &str) -> String {
    std::fs::read_to_string(dir().join(name))
        .unwrap()
        .trim()
        .to_owned()
}

fn inspect(name: &str, keys: &str, extra: &[&str]) -> common::Run {
    let t = token(name);
    let mut args = vec![
        "token",
        "inspect",
        &t,
        "--jwks",
        keys,
        "--issuer",
        "tollgate-test",
        "--service",
        "registry.test",
    ];
    args.extend_from_slice(extra);
    run_in(Some(&dir()), &args)
}

fn failed_checks(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("[FAIL] "))
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect()
}

#[test]
fn valid_tokens_are_accepted_golden() {
    let r = inspect("es256-kid.jwt", "jwks.json", &["--now", NOW]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    golden("inspect-es256-kid.txt", &r.stdout);
    for name in ["es256-x5c.jwt", "rs256-kid.jwt"] {
        for keys in ["jwks.json", "bundle.pem"] {
            let r = inspect(name, keys, &["--now", NOW]);
            assert_eq!(r.code, 0, "{name} with {keys}: {}", r.stdout);
            r.stdout_has("verdict: ACCEPT");
        }
    }
}

#[test]
fn each_defect_fails_its_own_check() {
    let cases: &[(&str, &[&str])] = &[
        // The last check is the core's own Verifier, which must agree.
        ("es256-aud-array.jwt", &["aud", "tollgate"]),
        ("es256-string-exp.jwt", &["exp", "tollgate"]),
        ("es256-unknown-kid.jwt", &["key", "signature", "tollgate"]),
        ("es256-claims-as-rs.jwt", &["alg", "signature", "tollgate"]),
        ("es256-tampered.jwt", &["signature", "tollgate"]),
    ];
    for (name, want) in cases {
        let r = inspect(name, "jwks.json", &["--now", NOW]);
        assert_eq!(r.code, 1, "{name}");
        assert_eq!(failed_checks(&r.stdout), *want, "{name}:\n{}", r.stdout);
        r.stdout_has("verdict: REFUSE");
        r.stderr_has("would be refused");
    }
    golden(
        "inspect-aud-array.txt",
        &inspect("es256-aud-array.jwt", "jwks.json", &["--now", NOW]).stdout,
    );
}

#[test]
fn time_issuer_and_service_are_checked() {
    // exp + 60 s leeway is still fine; one second more is not.
    assert_eq!(
        inspect("es256-kid.jwt", "jwks.json", &["--now", "2000000360"]).code,
        0
    );
    for (now, failed) in [("2000000361", "exp"), ("1999999939", "nbf")] {
        let r = inspect("es256-kid.jwt", "jwks.json", &["--now", now]);
        assert_eq!(
            failed_checks(&r.stdout),
            [failed, "tollgate"],
            "{}",
            r.stdout
        );
        if failed == "exp" {
            r.stdout_has("refuses it: expired");
        }
    }
    let t = token("es256-kid.jwt");
    let r = tg_in(
        Some(&dir()),
        "token inspect {} --jwks jwks.json --issuer other --service other.test --now {}",
        &[&t, NOW],
    );
    assert_eq!(
        failed_checks(&r.stdout),
        ["iss", "aud", "tollgate"],
        "{}",
        r.stdout
    );
    let r = tg_in(
        Some(&dir()),
        "token inspect {} --jwks jwks.json --now {}",
        &[&t, NOW],
    );
    assert_eq!(
        r.code, 0,
        "unchecked iss/aud are skipped, not failed: {}",
        r.stdout
    );
    assert!(
        r.stdout.contains("[skip] iss") && r.stdout.contains("pass --service"),
        "{}",
        r.stdout
    );
}

#[test]
fn token_from_stdin_and_bad_input() {
    let keys = dir().join("jwks.json");
    let keys = keys.to_str().unwrap();
    let r = tg_stdin(
        "token inspect - --jwks {} --now {}",
        &[keys, NOW],
        &format!("{}\n", token("es256-kid.jwt")),
    );
    r.succeeded();
    for (bad, expect) in [
        ("not-a-jwt", "three '.'-separated parts"),
        ("a.b.c", "header is not base64url"),
        ("e30.e30.!!", "signature is not base64url"),
    ] {
        let r = tg_stdin("token inspect - --jwks {}", &[keys], bad);
        assert_eq!(r.code, 1, "{bad}");
        assert!(r.stderr.contains(expect), "{bad}: {}", r.stderr);
    }
    let huge = "a".repeat(10_000);
    let r = tg_stdin("token inspect - --jwks {}", &[keys], &huge);
    r.stderr_has("at most 8192");
    let r = tg_stdin("token inspect - --jwks /nonexistent.json", &[], "a.b.c");
    r.stderr_has("--jwks /nonexistent.json: cannot read it");
    let policy = common::repo_file("policy/demo.toml");
    let r = tg_stdin("token inspect - --jwks {}", &[&policy], "a.b.c");
    r.stderr_has("no PEM block found");
}

/// `--jwks http://...`: a one-shot loopback server answering with the fixture JWKS.
#[test]
fn jwks_from_a_url() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let body = std::fs::read_to_string(dir().join("jwks.json")).unwrap();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = conn.read(&mut buf);
        let head = format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len());
        conn.write_all(head.as_bytes()).unwrap();
        conn.write_all(body.as_bytes()).unwrap();
    });
    let url = format!("http://127.0.0.1:{port}/.well-known/jwks.json");
    let r = inspect("es256-kid.jwt", &url, &["--now", NOW]);
    server.join().unwrap();
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    inspect(
        "es256-kid.jwt",
        "http://127.0.0.1:1/jwks.json",
        &["--now", NOW],
    )
    .fails(1, "--jwks http://127.0.0.1:1/jwks.json: fetching it failed");
}
