//! `tollgate user ...` and `tollgate apikey ...` editing a policy file.

mod common;

use common::*;
use std::fs;
use std::path::Path;

const START: &str = "# reviewed policy: comments must survive edits\n\n[[rules]]\n# writers\nmatch = { group = \"dev\", type = \"repository\", name = \"org/*\" }\nactions = [\"pull\", \"push\"]\n";

fn policy_in(dir: &Path) -> String {
    let p = dir.join("policy.toml");
    fs::write(&p, START).unwrap();
    p.display().to_string()
}

fn render(p: &str) -> Vec<serde_json::Value> {
    let r = tg("policy render {}", &[p]);
    r.succeeded();
    serde_json::from_str(&r.stdout).unwrap()
}

fn record(entries: &[serde_json::Value], key: &str) -> Option<serde_json::Value> {
    entries
        .iter()
        .find(|e| e["key"] == key)
        .map(|e| serde_json::from_str(e["value"].as_str().unwrap()).unwrap())
}

#[test]
fn add_warns_when_the_bcrypt_cost_does_not_fit_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    let p = policy_in(dir.path());
    let add = |name: &str, plan: &[&str]| {
        let mut args = vec!["user", "add", name, "--password-stdin", "--policy", &p];
        args.extend(plan);
        run_stdin(&args, "s3cret-pass\n")
    };
    let free = add("a1", &["--plan", "free"]);
    free.succeeded();
    assert!(free.stdout.contains("added user a1"), "{}", free.stdout);
    assert!(
        free.stdout
            .contains("warning: a bcrypt check at cost 10 takes about 100 ms")
            && free.stdout.contains("Free plan's 10 ms"),
        "{}",
        free.stdout
    );
    for quiet in [add("a2", &["--plan", "paid"]), add("a3", &[])] {
        quiet.succeeded();
        assert!(!quiet.stdout.contains("warning"), "{}", quiet.stdout);
    }
    let bad = run(&["user", "add", "a4", "--plan", "enterprise", "--policy", &p]);
    assert_ne!(bad.code, 0);
}

#[test]
fn add_hashes_the_password_and_keeps_comments() {
    let dir = tempfile::tempdir().unwrap();
    let p = policy_in(dir.path());
    let r = tg_stdin(
        "user add alice --group dev --password-stdin --policy {}",
        &[&p],
        "s3cret-pass\n",
    );
    r.succeeded();
    let text = fs::read_to_string(&p).unwrap();
    assert!(
        text.starts_with(START),
        "the existing text is kept verbatim:\n{text}"
    );
    assert!(
        !text.contains("s3cret-pass"),
        "the plaintext is never stored"
    );
    let user = record(&render(&p), "user:alice").unwrap();
    let hash = user["password"].as_str().unwrap();
    assert!(hash.starts_with("$2y$10$"));
    assert!(bcrypt::verify("s3cret-pass", hash).unwrap());
    assert_eq!(user["groups"], serde_json::json!(["dev"]));

    tg_stdin(
        "user add alice --password-stdin --policy {}",
        &[&p],
        "another-pass\n",
    )
    .fails(1, "user \"alice\" already exists");

    let r = tg_stdin(
        "user passwd alice --password-stdin --policy {}",
        &[&p],
        "new-password\r\n",
    );
    r.succeeded();
    let hash = record(&render(&p), "user:alice").unwrap()["password"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        bcrypt::verify("new-password", &hash).unwrap(),
        "CRLF is stripped"
    );
    r.stdout_has("refresh tokens minted with the old password are refused");

    // The operator revokes every refresh token of alice without knowing them.
    let r = tg("user revoke-refresh alice --policy {}", &[&p]);
    r.succeeded();
    r.stdout_has("revoked every refresh token of alice");
    let before = record(&render(&p), "user:alice").unwrap()["refresh_revoked_before"]
        .as_u64()
        .expect("the user record carries the revocation time");
    assert!(before > 1_700_000_000);
    let r = tg("user revoke-refresh nobody --policy {}", &[&p]);
    assert_eq!(r.code, 1);
}

#[test]
fn bad_passwords_and_names_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let p = policy_in(dir.path());
    for (args, input, expect) in [
        (
            vec!["user", "add", "bob", "--password-stdin"],
            "short\n",
            "too short",
        ),
        (
            vec!["user", "add", "bob", "--password-stdin"],
            &*format!("{}\n", "x".repeat(80)),
            "bcrypt only uses 72",
        ),
        (
            vec!["user", "add", "bob:x", "--password-stdin"],
            "long-enough\n",
            "may only use",
        ),
        (
            vec!["user", "add", "bob", "--password-stdin", "--cost", "4"],
            "long-enough\n",
            "--cost 4 is out of range",
        ),
        (
            vec!["user", "add", "bob", "--group", "a b", "--no-password"],
            "",
            "would leave problems",
        ),
    ] {
        let mut a = args.clone();
        a.extend(["--policy", &p]);
        let r = run_stdin(&a, input);
        assert_eq!(r.code, 1, "{args:?}");
        assert!(r.stderr.contains(expect), "{args:?}: {}", r.stderr);
        assert!(
            !r.stderr.contains("long-enough"),
            "the password never appears in an error"
        );
        assert_eq!(
            fs::read_to_string(&p).unwrap(),
            START,
            "{args:?} must not touch the file"
        );
    }
}

#[test]
fn no_terminal_and_no_stdin_flag_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let p = policy_in(dir.path());
    tg("user add bob --policy {}", &[&p]).fails(1, "--password-stdin");
    tg("user list", &[]).fails(1, "pass --policy FILE or set TOLLGATE_POLICY");
}

#[test]
fn disable_enable_delete_and_list() {
    let dir = tempfile::tempdir().unwrap();
    let p = policy_in(dir.path());
    assert_eq!(
        tg("user add ci --no-password --group dev --policy {}", &[&p]).code,
        0
    );
    assert_eq!(
        tg_stdin(
            "user add bob --password-stdin --policy {}",
            &[&p],
            "long-enough\n"
        )
        .code,
        0
    );
    assert_eq!(tg("user disable bob --policy {}", &[&p]).code, 0);
    assert_eq!(record(&render(&p), "user:bob").unwrap()["disabled"], true);
    let r = tg("user list --policy {}", &[&p]);
    golden("user-list.txt", &r.stdout);
    assert_eq!(tg("user enable bob --policy {}", &[&p]).code, 0);
    assert_eq!(record(&render(&p), "user:bob").unwrap()["disabled"], false);
    let r = tg("user delete bob --policy {}", &[&p]);
    r.succeeded();
    assert!(record(&render(&p), "user:bob").is_none());
    tg("user delete bob --policy {}", &[&p]).fails(1, "there is no user \"bob\"");
    let r = tg("user disable nobody --policy {}", &[&p]);
    r.stderr_has("there is no user \"nobody\"");
}

#[test]
fn apikey_create_shows_the_key_once_and_stores_its_digest() {
    use sha2::Digest as _;
    let dir = tempfile::tempdir().unwrap();
    let p = policy_in(dir.path());
    assert_eq!(
        tg("user add ci-bot --no-password --policy {}", &[&p]).code,
        0
    );
    let r = tg(
        "apikey create --account ci-bot --name ci --expires-days 30 --policy {}",
        &[&p],
    );
    r.succeeded();
    let key = r.stdout.trim();
    assert!(key.starts_with("tgk_") && key.len() == 47, "{key}");
    assert!(r.stderr.contains("not shown again"));
    let text = fs::read_to_string(&p).unwrap();
    assert!(!text.contains(key), "the key itself is never written");
    let digest = data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(key.as_bytes()));
    let rec = record(&render(&p), &format!("apikey:{digest}")).unwrap();
    assert_eq!(rec["account"], "ci-bot");
    assert_eq!(rec["name"], "ci");
    assert_eq!(
        rec["expires"].as_u64().unwrap() - rec["created"].as_u64().unwrap(),
        30 * 86_400
    );

    let again = tg(
        "apikey create --account ci-bot --name ci --policy {}",
        &[&p],
    );
    again.fails(1, "already has an API key named \"ci\"");
    let second = tg(
        "apikey create --account ci-bot --name ci2 --policy {}",
        &[&p],
    );
    assert_ne!(second.stdout, r.stdout);

    let r = tg(
        "apikey revoke --account ci-bot --name ci --policy {}",
        &[&p],
    );
    r.succeeded();
    r.stdout_has("refresh tokens minted from this key are refused");
    assert!(record(&render(&p), &format!("apikey:{digest}")).is_none());
    let r = tg("apikey create --account ghost --name x --policy {}", &[&p]);
    r.stderr_has("there is no user \"ghost\"");
}

#[test]
fn import_htpasswd_takes_bcrypt_and_refuses_other_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let p = policy_in(dir.path());
    let ht = dir.path().join("htpasswd");
    let hash = "$2y$10$LffUs7B/MgHNcUX/TGSZYu5Udvl1T2wR2PoJ2m4cD1SiTsdCocDrK";
    fs::write(
        &ht,
        format!(
            "# comment\nu1:{hash}\nu2:$apr1$abc$def\n\nu3:{{SHA}}qUqP5cyxm6YcTAhz05Hph5gvu9M=\n"
        ),
    )
    .unwrap();
    let r = tg(
        "user import-htpasswd {} --policy {}",
        &[ht.to_str().unwrap(), &p],
    );
    r.fails(1, "htpasswd:3: user \"u2\" has an APR1-MD5 hash");
    r.stderr_has("htpasswd:5: user \"u3\" has a SHA-1 hash");
    assert_eq!(fs::read_to_string(&p).unwrap(), START, "all or nothing");

    fs::write(&ht, format!("u1:{hash}\nu2:{hash}\n")).unwrap();
    let r = tg(
        "user import-htpasswd {} --policy {}",
        &[ht.to_str().unwrap(), &p],
    );
    r.succeeded();
    r.stdout_has("2 added");
    assert_eq!(record(&render(&p), "user:u1").unwrap()["password"], hash);
    tg(
        "user import-htpasswd {} --policy {}",
        &[ht.to_str().unwrap(), &p],
    )
    .fails(1, "pass --replace");
    let r = tg(
        "user import-htpasswd {} --replace --policy {}",
        &[ht.to_str().unwrap(), &p],
    );
    r.stdout_has("2 password(s) replaced");
}

/// The second review: cost-17 and cost-31 hashes, and a salt outside bcrypt's alphabet, were
/// imported, validated, rendered and synced; the worker then spent 11.7 s of CPU per wrong
/// password (cost 17) or answered every password 401. Import, validate and render refuse them.
#[test]
fn import_validate_and_render_refuse_costly_or_malformed_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let p = policy_in(dir.path());
    let ht = dir.path().join("htpasswd");
    let ok = "$2y$10$LffUs7B/MgHNcUX/TGSZYu5Udvl1T2wR2PoJ2m4cD1SiTsdCocDrK";
    let cost17 = format!("$2y$17{}", &ok[6..]);
    let cost31 = format!("$2y$31{}", &ok[6..]);
    let bad_salt = format!("{}!{}", &ok[..7], &ok[8..]);
    fs::write(
        &ht,
        format!("u1:{cost17}\nu2:{cost31}\nu3:{bad_salt}\nu4:{ok}\n"),
    )
    .unwrap();
    let r = tg(
        "user import-htpasswd {} --policy {}",
        &[ht.to_str().unwrap(), &p],
    );
    assert_eq!(r.code, 1, "{}", r.stdout);
    for needle in [
        "htpasswd:1: user \"u1\": the hash uses bcrypt cost 17, above the maximum of 14",
        "htpasswd:2: user \"u2\": the hash uses bcrypt cost 31, above the maximum of 14",
        "htpasswd:3: user \"u3\": the hash is not a well-formed bcrypt hash: its salt",
    ] {
        assert!(r.stderr.contains(needle), "{needle}\n{}", r.stderr);
    }
    assert_eq!(fs::read_to_string(&p).unwrap(), START, "all or nothing");
    // A policy file written by hand is refused by validate and render (and so by sync).
    let file = dir.path().join("hand.toml");
    fs::write(&file, format!("[users.dave]\npassword = \"{cost17}\"\n")).unwrap();
    for cmd in ["validate", "render"] {
        let r = tg("policy {} {}", &[cmd, file.to_str().unwrap()]);
        assert_eq!(r.code, 1, "{cmd}");
        assert!(
            r.stderr.contains("users.dave.password uses bcrypt cost 17"),
            "{cmd}: {}",
            r.stderr
        );
    }
}
