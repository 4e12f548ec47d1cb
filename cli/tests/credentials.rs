//! `tollgate credentials list|revoke` (issue 14) against the fake wrangler
//! (tests/support/fake-wrangler.cjs, needs node): personal credentials from the sign-in page.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

const A: &str = "aaaaaaaa11111111aaaaaaaa11111111aaaaaaaa11111111aaaaaaaa11111111";
const B: &str = "bbbbbbbb22222222bbbbbbbb22222222bbbbbbbb22222222bbbbbbbb22222222";

fn run(kv: &Path, args: &[&str]) -> common::Run {
    let fake = common::crate_dir().join("tests/support/fake-wrangler.cjs");
    let out = common::bin()
        .arg("credentials")
        .args(args)
        .env("FAKE_KV", kv)
        .env("TOLLGATE_WRANGLER", format!("node {}", fake.display()))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    common::Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn record(account: &str, name: &str) -> String {
    format!(
        r#"{{"account":"{account}","name":"{name}","created":1764966600,"expires":4102444800,"provider":"corp","groups":["staff"]}}"#
    )
}

#[test]
fn credentials_are_listed_and_revoked_with_their_index() {
    if Command::new("node").arg("--version").output().is_err() {
        eprintln!("skipped: node is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let kv = dir.path().join("kv.json");
    let index = format!(
        r#"[{{"id":"{A}","name":"laptop","created":1764966600,"expires":4102444800}},{{"id":"{B}","name":"ci","created":1764966600,"expires":4102444800}}]"#
    );
    let start: BTreeMap<String, String> = BTreeMap::from([
        (format!("personal:{A}"), record("sso-alice", "laptop")),
        // A device approval's credential (issue 15) carries its client and approval time.
        (
            format!("personal:{B}"),
            record("sso-alice", "ci").replace(
                "}",
                r#","device":"docker-credential-tollgate","approved":1764966590}"#,
            ),
        ),
        ("personal-index:sso-alice".into(), index),
        ("user:bob".into(), "{}".into()),
    ]);
    fs::write(&kv, serde_json::to_string(&start).unwrap()).unwrap();

    let r = run(&kv, &["list", "--local"]);
    r.succeeded();
    r.stdout_has("sso-alice\tlaptop\tcreated 2025-12-05 20:30 UTC");
    assert!(r.stdout.contains(&format!("id {B}")));
    assert!(
        r.stdout.contains("sso-alice\tci (device approval)\t"),
        "{}",
        r.stdout
    );
    let r = run(&kv, &["list", "--local", "--account", "sso-bob"]);
    assert_eq!(r.stdout, "no personal credentials\n");

    assert_ne!(run(&kv, &["revoke", "--local", "abc"]).code, 0, "too short");
    assert_ne!(
        run(&kv, &["revoke", "--local", "cccccccc"]).code,
        0,
        "unknown"
    );
    let r = run(&kv, &["revoke", "--local", &A[..10]]);
    r.succeeded();
    assert!(r.stdout.contains("revoked 'laptop' of sso-alice"));
    let now: BTreeMap<String, String> =
        serde_json::from_str(&fs::read_to_string(&kv).unwrap()).unwrap();
    assert!(!now.contains_key(&format!("personal:{A}")));
    assert!(now.contains_key(&format!("personal:{B}")));
    assert!(!now["personal-index:sso-alice"].contains(A));
    assert!(now["personal-index:sso-alice"].contains(B));
    // The last one removes the index too.
    assert_eq!(run(&kv, &["revoke", "--local", B]).code, 0);
    let now: BTreeMap<String, String> =
        serde_json::from_str(&fs::read_to_string(&kv).unwrap()).unwrap();
    assert!(!now.contains_key("personal-index:sso-alice"));
    assert!(now.contains_key("user:bob"));
}
