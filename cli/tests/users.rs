//! `tollgate user ...` and `tollgate apikey ...` editing a policy file.

mod common;

use common::*;
use std::fs;

/// A bcrypt hash of cost 10, as `htpasswd -B` writes it.
const BCRYPT_10: &str = "$2y$10$LffUs7B/MgHNcUX/TGSZYu5Udvl1T2wR2PoJ2m4cD1SiTsdCocDrK";

const START: &str = "# reviewed policy: comments must survive edits\n\n[[rules]]\n# writers\nmatch = { group = \"dev\", type = \"repository\", name = \"org/*\" }\nactions = [\"pull\", \"push\"]\n";

/// A policy file holding START in a directory of its own, and the CLI run against it.
struct Policy {
    dir: tempfile::TempDir,
    path: String,
}

impl Policy {
    fn new() -> Policy {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.toml");
        fs::write(&path, START).unwrap();
        let path = path.display().to_string();
        Policy { dir, path }
    }

    /// `tollgate LINE --policy FILE`.
    fn tg(&self, line: &str) -> Run {
        self.tg_with(line, &[])
    }

    /// `tollgate LINE --policy FILE`, each `{}` in LINE the next of `values` (as [`tg`]).
    fn tg_with(&self, line: &str, values: &[&str]) -> Run {
        let mut all = values.to_vec();
        all.push(&self.path);
        tg(&format!("{line} --policy {{}}"), &all)
    }

    /// Writes `text` as `htpasswd` next to the policy file, then runs
    /// `tollgate user import-htpasswd THAT FLAGS --policy FILE`.
    fn import_htpasswd(&self, text: &str, flags: &str) -> Run {
        let ht = self.dir.path().join("htpasswd");
        fs::write(&ht, text).unwrap();
        self.tg_with(
            &format!("user import-htpasswd {{}} {flags}"),
            &[ht.to_str().unwrap()],
        )
    }

    /// `tollgate LINE --policy FILE` with `input` on stdin.
    fn tg_stdin(&self, line: &str, input: &str) -> Run {
        tg_stdin(&format!("{line} --policy {{}}"), &[&self.path], input)
    }

    fn text(&self) -> String {
        fs::read_to_string(&self.path).unwrap()
    }

    /// The record under `key` in what `policy render` makes of the file.
    fn record(&self, key: &str) -> Option<serde_json::Value> {
        let r = tg("policy render {}", &[&self.path]);
        r.succeeded();
        let entries: Vec<serde_json::Value> = serde_json::from_str(&r.stdout).unwrap();
        entries
            .iter()
            .find(|e| e["key"] == key)
            .map(|e| serde_json::from_str(e["value"].as_str().unwrap()).unwrap())
    }
}

#[test]
fn add_warns_when_the_bcrypt_cost_does_not_fit_the_plan() {
    let p = Policy::new();
    let add = |name: &str, plan: &str| {
        p.tg_stdin(
            &format!("user add {name} --password-stdin {plan}"),
            "s3cret-pass\n",
        )
    };
    let free = add("a1", "--plan free");
    free.succeeded();
    assert!(free.stdout.contains("added user a1"), "{}", free.stdout);
    assert!(
        free.stdout
            .contains("warning: a bcrypt check at cost 10 takes about 100 ms")
            && free.stdout.contains("Free plan's 10 ms"),
        "{}",
        free.stdout
    );
    for quiet in [add("a2", "--plan paid"), add("a3", "")] {
        quiet.succeeded();
        assert!(!quiet.stdout.contains("warning"), "{}", quiet.stdout);
    }
    let bad = p.tg("user add a4 --plan enterprise");
    assert_ne!(bad.code, 0);
}

#[test]
fn add_hashes_the_password_and_keeps_comments() {
    let p = Policy::new();
    let r = p.tg_stdin(
        "user add alice --group dev --password-stdin",
        "s3cret-pass\n",
    );
    r.succeeded();
    let text = p.text();
    assert!(
        text.starts_with(START),
        "the existing text is kept verbatim:\n{text}"
    );
    assert!(
        !text.contains("s3cret-pass"),
        "the plaintext is never stored"
    );
    let user = p.record("user:alice").unwrap();
    let hash = user["password"].as_str().unwrap();
    assert!(hash.starts_with("$2y$10$"));
    assert!(bcrypt::verify("s3cret-pass", hash).unwrap());
    assert_eq!(user["groups"], serde_json::json!(["dev"]));

    p.tg_stdin("user add alice --password-stdin", "another-pass\n")
        .fails(1, "user \"alice\" already exists");

    let r = p.tg_stdin("user passwd alice --password-stdin", "new-password\r\n");
    r.succeeded();
    let hash = p.record("user:alice").unwrap()["password"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        bcrypt::verify("new-password", &hash).unwrap(),
        "CRLF is stripped"
    );
    r.stdout_has("refresh tokens minted with the old password are refused");

    // The operator revokes every refresh token of alice without knowing them.
    let r = p.tg("user revoke-refresh alice");
    r.succeeded();
    r.stdout_has("revoked every refresh token of alice");
    let before = p.record("user:alice").unwrap()["refresh_revoked_before"]
        .as_u64()
        .expect("the user record carries the revocation time");
    assert!(before > 1_700_000_000);
    let r = p.tg("user revoke-refresh nobody");
    assert_eq!(r.code, 1);
}

#[test]
fn bad_passwords_and_names_change_nothing() {
    let p = Policy::new();
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
        a.extend(["--policy", &p.path]);
        let r = run_stdin(&a, input);
        assert_eq!(r.code, 1, "{args:?}");
        assert!(r.stderr.contains(expect), "{args:?}: {}", r.stderr);
        assert!(
            !r.stderr.contains("long-enough"),
            "the password never appears in an error"
        );
        assert_eq!(p.text(), START, "{args:?} must not touch the file");
    }
}

#[test]
fn no_terminal_and_no_stdin_flag_says_what_to_do() {
    let p = Policy::new();
    p.tg("user add bob").fails(1, "--password-stdin");
    tg("user list", &[]).fails(1, "pass --policy FILE or set TOLLGATE_POLICY");
}

#[test]
fn disable_enable_delete_and_list() {
    let p = Policy::new();
    assert_eq!(p.tg("user add ci --no-password --group dev").code, 0);
    assert_eq!(
        p.tg_stdin("user add bob --password-stdin", "long-enough\n")
            .code,
        0
    );
    assert_eq!(p.tg("user disable bob").code, 0);
    assert_eq!(p.record("user:bob").unwrap()["disabled"], true);
    let r = p.tg("user list");
    golden("user-list.txt", &r.stdout);
    assert_eq!(p.tg("user enable bob").code, 0);
    assert_eq!(p.record("user:bob").unwrap()["disabled"], false);
    let r = p.tg("user delete bob");
    r.succeeded();
    assert!(p.record("user:bob").is_none());
    p.tg("user delete bob").fails(1, "there is no user \"bob\"");
    let r = p.tg("user disable nobody");
    r.stderr_has("there is no user \"nobody\"");
}

#[test]
fn apikey_create_shows_the_key_once_and_stores_its_digest() {
    use sha2::Digest as _;
    let p = Policy::new();
    assert_eq!(p.tg("user add ci-bot --no-password").code, 0);
    let r = p.tg("apikey create --account ci-bot --name ci --expires-days 30");
    r.succeeded();
    let key = r.stdout.trim();
    // 256 random bits, then the account as the worker's read-ahead hint (issue 17).
    assert!(
        key.starts_with("tgk_") && key.ends_with(".Y2ktYm90"),
        "{key}"
    );
    assert_eq!(key.len(), 4 + 43 + 1 + 8, "{key}");
    assert!(r.stderr.contains("not shown again"));
    assert!(!p.text().contains(key), "the key itself is never written");
    let digest = data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(key.as_bytes()));
    let rec = p.record(&format!("apikey:{digest}")).unwrap();
    assert_eq!(rec["account"], "ci-bot");
    assert_eq!(rec["name"], "ci");
    assert_eq!(
        rec["expires"].as_u64().unwrap() - rec["created"].as_u64().unwrap(),
        30 * 86_400
    );

    let again = p.tg("apikey create --account ci-bot --name ci");
    again.fails(1, "already has an API key named \"ci\"");
    let second = p.tg("apikey create --account ci-bot --name ci2");
    assert_ne!(second.stdout, r.stdout);

    let r = p.tg("apikey revoke --account ci-bot --name ci");
    r.succeeded();
    r.stdout_has("refresh tokens minted from this key are refused");
    assert!(p.record(&format!("apikey:{digest}")).is_none());
    let r = p.tg("apikey create --account ghost --name x");
    r.stderr_has("there is no user \"ghost\"");
}

#[test]
fn import_htpasswd_takes_bcrypt_and_refuses_other_hashes() {
    let p = Policy::new();
    let hash = BCRYPT_10;
    let r = p.import_htpasswd(
        &format!(
            "# comment\nu1:{hash}\nu2:$apr1$abc$def\n\nu3:{{SHA}}qUqP5cyxm6YcTAhz05Hph5gvu9M=\n"
        ),
        "",
    );
    r.fails(1, "htpasswd:3: user \"u2\" has an APR1-MD5 hash");
    r.stderr_has("htpasswd:5: user \"u3\" has a SHA-1 hash");
    assert_eq!(p.text(), START, "all or nothing");

    let both = format!("u1:{hash}\nu2:{hash}\n");
    let r = p.import_htpasswd(&both, "");
    r.succeeded();
    r.stdout_has("2 added");
    assert_eq!(p.record("user:u1").unwrap()["password"], hash);
    p.import_htpasswd(&both, "").fails(1, "pass --replace");
    let r = p.import_htpasswd(&both, "--replace");
    r.stdout_has("2 password(s) replaced");
}

/// The second review: cost-17 and cost-31 hashes, and a salt outside bcrypt's alphabet, were
/// imported, validated, rendered and synced; the worker then spent 11.7 s of CPU per wrong
/// password (cost 17) or answered every password 401. Import, validate and render refuse them.
#[test]
fn import_validate_and_render_refuse_costly_or_malformed_hashes() {
    let p = Policy::new();
    let ok = BCRYPT_10;
    let cost17 = format!("$2y$17{}", &ok[6..]);
    let cost31 = format!("$2y$31{}", &ok[6..]);
    let bad_salt = format!("{}!{}", &ok[..7], &ok[8..]);
    let r = p.import_htpasswd(
        &format!("u1:{cost17}\nu2:{cost31}\nu3:{bad_salt}\nu4:{ok}\n"),
        "",
    );
    assert_eq!(r.code, 1, "{}", r.stdout);
    for needle in [
        "htpasswd:1: user \"u1\": the hash uses bcrypt cost 17, above the maximum of 14",
        "htpasswd:2: user \"u2\": the hash uses bcrypt cost 31, above the maximum of 14",
        "htpasswd:3: user \"u3\": the hash is not a well-formed bcrypt hash: its salt",
    ] {
        assert!(r.stderr.contains(needle), "{needle}\n{}", r.stderr);
    }
    assert_eq!(p.text(), START, "all or nothing");
    // A policy file written by hand is refused by validate and render (and so by sync).
    let file = p.dir.path().join("hand.toml");
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
