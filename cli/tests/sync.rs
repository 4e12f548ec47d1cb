//! `tollgate policy sync` against a fake wrangler (tests/support/fake-wrangler.cjs, needs node),
//! and once against the real wrangler's local KV when node_modules has it.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

fn fake() -> String {
    common::crate_dir()
        .join("tests/support/fake-wrangler.cjs")
        .display()
        .to_string()
}

fn have_node() -> bool {
    Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn sync(kv: &Path, args: &[&str], extra_env: &[(&str, &str)]) -> common::Run {
    let mut cmd = common::bin();
    cmd.args(["policy", "sync"])
        .args(args)
        .env("FAKE_KV", kv)
        .env("TOLLGATE_WRANGLER", format!("node {}", fake()));
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    common::Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// A scratch directory and the fake wrangler's KV file in it; `None` (the test skips) without node.
fn scratch_kv() -> Option<(tempfile::TempDir, std::path::PathBuf)> {
    if !have_node() {
        eprintln!("skipped: node is not installed");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let kv = dir.path().join("kv.json");
    Some((dir, kv))
}

fn store(kv: &Path) -> BTreeMap<String, String> {
    serde_json::from_str(&fs::read_to_string(kv).unwrap()).unwrap()
}

#[test]
fn sync_shows_a_diff_then_writes_only_policy_records() {
    let Some((dir, kv)) = scratch_kv() else {
        return;
    };
    // A namespace with a refresh token (never touched), a stale user and a stale API key.
    fs::write(
        &kv,
        r#"{"refresh:abc":"{\"account\":\"alice\"}","user:gone":"{\"disabled\":false}","apikey:00":"{\"account\":\"gone\"}","user:bob":"{\"password\":\"$2b$10$old\",\"disabled\":true,\"groups\":[],\"labels\":{}}"}"#,
    )
    .unwrap();
    let demo = repo_file("policy/demo.toml");

    let r = sync(
        &kv,
        &[&demo, "--local", "--dry-run", "--persist-to", "/state"],
        &[],
    );
    r.succeeded();
    r.stdout_has("+ user:alice  {\"disabled\":false,\"groups\":[\"dev\",\"org-writers\"],\"labels\":{\"team\":[\"platform\"]},\"password\":\"<bcrypt hash>\"}");
    r.stdout_has("~ user:bob\n    disabled: true -> false\n    groups: [] -> [\"org-readers\"]\n    password: changed\n");
    assert!(
        r.stdout.contains("- user:gone\n") && r.stdout.contains("- apikey:00\n"),
        "{}",
        r.stdout
    );
    assert!(
        !r.stdout.contains("refresh:abc"),
        "refresh tokens are not the policy's"
    );
    r.stdout_has("8 to add, 1 to change, 2 to delete, 0 unchanged");
    assert!(r.stdout.ends_with("dry run: nothing written\n"));
    assert!(!r.stdout.contains("$2b$"), "hashes are masked");
    assert_eq!(store(&kv).len(), 4, "dry run writes nothing");

    let r = sync(&kv, &[&demo, "--local", "--persist-to", "/state"], &[]);
    r.succeeded();
    assert!(
        r.stdout.ends_with("wrote 9 record(s), deleted 2\n"),
        "{}",
        r.stdout
    );
    let after = store(&kv);
    assert!(after.contains_key("refresh:abc"));
    assert!(!after.contains_key("user:gone") && !after.contains_key("apikey:00"));
    let rendered: Vec<serde_json::Value> =
        serde_json::from_str(&tg("policy render {}", &[&demo]).stdout).unwrap();
    for e in &rendered {
        assert_eq!(
            after[e["key"].as_str().unwrap()],
            e["value"].as_str().unwrap()
        );
    }
    let log = fs::read_to_string(dir.path().join("kv.json.log")).unwrap();
    for line in log.lines() {
        let args: Vec<String> = serde_json::from_str(line).unwrap();
        assert!(
            args.windows(2).any(|w| w == ["--binding", "TOLLGATE_KV"]),
            "{line}"
        );
        assert!(
            args.contains(&"--local".to_owned()) && !args.contains(&"--remote".to_owned()),
            "{line}"
        );
        assert!(
            args.windows(2).any(|w| w == ["--persist-to", "/state"]),
            "{line}"
        );
    }

    let r = sync(&kv, &[&demo, "--local"], &[]);
    assert!(
        r.stdout.ends_with(
            "0 to add, 0 to change, 0 to delete, 9 unchanged\nalready in sync; nothing written\n"
        ),
        "{}",
        r.stdout
    );
}

#[test]
fn remote_sync_needs_confirmation_and_passes_env() {
    let Some((dir, kv)) = scratch_kv() else {
        return;
    };
    let demo = repo_file("policy/demo.toml");
    let r = sync(&kv, &[&demo, "--remote", "--env", "prod"], &[]);
    r.fails(1, "rerun with --yes");
    assert!(!kv.exists(), "nothing written without confirmation");
    let r = sync(&kv, &[&demo, "--remote", "--env", "prod", "--yes"], &[]);
    r.succeeded();
    assert_eq!(store(&kv).len(), 9);
    let log = fs::read_to_string(dir.path().join("kv.json.log")).unwrap();
    assert!(
        log.lines()
            .all(|l| l.contains("\"--remote\"") && l.contains("\"--env\",\"prod\"")),
        "{log}"
    );
}

#[test]
fn wrangler_failures_and_flag_mistakes_are_explained() {
    let demo = repo_file("policy/demo.toml");
    let r = tg("policy sync {}", &[&demo]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("--local") && r.stderr.contains("--remote"),
        "{}",
        r.stderr
    );
    let r = tg("policy sync {} --local --remote", &[&demo]);
    assert_eq!(r.code, 2);
    if !have_node() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let kv = dir.path().join("kv.json");
    let r = sync(&kv, &[&demo, "--remote", "--yes"], &[("FAKE_FAIL", "1")]);
    r.fails(1, "kv key list` failed");
    assert!(
        r.stderr.contains("Authentication error"),
        "wrangler's own message is shown: {}",
        r.stderr
    );
    let mut cmd = common::bin();
    let out = cmd
        .args([
            "policy",
            "sync",
            &demo,
            "--local",
            "--wrangler",
            "/nonexistent/wrangler",
        ])
        .env_remove("TOLLGATE_WRANGLER")
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("point --wrangler / TOLLGATE_WRANGLER at it"),
        "{stderr}"
    );
}

/// The real thing: wrangler 4's local KV (Miniflare storage) in a scratch directory.
#[test]
fn sync_against_real_wrangler_local_kv() {
    let root = common::crate_dir().join("..");
    let wrangler = root.join("node_modules/.bin/wrangler");
    if !wrangler.exists() || !have_node() {
        eprintln!("skipped: node_modules/.bin/wrangler is not installed (npm ci)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let persist = dir.path().display().to_string();
    let run_sync = |extra: &[&str]| {
        let mut cmd = common::bin();
        cmd.current_dir(&root)
            .args([
                "policy",
                "sync",
                "policy/demo.toml",
                "--local",
                "--persist-to",
                &persist,
            ])
            .args(extra)
            .env("TOLLGATE_WRANGLER", wrangler.display().to_string())
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
            .stdin(Stdio::null());
        let out = cmd.output().unwrap();
        (
            out.status.code(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let (code, stdout, stderr) = run_sync(&[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains("9 to add, 0 to change, 0 to delete, 0 unchanged"),
        "{stdout}"
    );
    let (code, stdout, stderr) = run_sync(&["--dry-run"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains("0 to add, 0 to change, 0 to delete, 9 unchanged"),
        "{stdout}"
    );
}
