//! `tollgate policy render|validate` against the built binary.

mod common;

use common::*;

#[test]
fn render_demo_policy_matches_golden_kv_records() {
    let r = tg("policy render {}", &[&repo_file("policy/demo.toml")]);
    r.prints("demo.render.json");
    // The shape `wrangler kv bulk put` takes: [{key, value: string}], every value itself JSON.
    let entries: Vec<serde_json::Value> = serde_json::from_str(&r.stdout).unwrap();
    for e in &entries {
        let value = e["value"].as_str().expect("value is a string");
        serde_json::from_str::<serde_json::Value>(value).expect("value is JSON");
        assert_eq!(e.as_object().unwrap().len(), 2);
    }
    let keys: Vec<&str> = entries.iter().map(|e| e["key"].as_str().unwrap()).collect();
    for k in [
        "user:admin",
        "user:alice",
        "user:bob",
        "user:ci-bot",
        "user:chart-user",
        "user:disabled-user",
        "acl",
    ] {
        assert!(keys.contains(&k), "{k} missing from {keys:?}");
    }
    assert_eq!(keys.iter().filter(|k| k.starts_with("apikey:")).count(), 2);
}

/// The demo API keys documented in the file hash to the digests it stores.
#[test]
fn demo_api_key_digests_match_the_documented_keys() {
    use sha2::Digest as _;
    let text = std::fs::read_to_string(repo_file("policy/demo.toml")).unwrap();
    for key in [
        "tgk_Lsz1CsKo6xnYht2ybBbHfEn8vl5ZdQIszo6se_vOGDk.Y2ktYm90",
        "tgk_1TIk6LOvIEHkSqA1Zg0WOvI47ycEwjruD_m15CUvwW0.Y2hhcnQtdXNlcg",
    ] {
        let digest = data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(key.as_bytes()));
        assert!(text.contains(&format!("digest = \"{digest}\"")), "{key}");
    }
}

/// The demo passwords documented in the file verify against the stored bcrypt hashes.
#[test]
fn demo_passwords_match_the_documented_plaintexts() {
    let r = tg("policy render {}", &[&repo_file("policy/demo.toml")]);
    let entries: Vec<serde_json::Value> = serde_json::from_str(&r.stdout).unwrap();
    for (user, pw) in [
        ("admin", "admin-demo-pass"),
        ("alice", "alice-demo-pass"),
        ("bob", "bob-demo-pass"),
        ("disabled-user", "disabled-demo-pass"),
    ] {
        let e = entries
            .iter()
            .find(|e| e["key"] == format!("user:{user}"))
            .unwrap();
        let record: serde_json::Value = serde_json::from_str(e["value"].as_str().unwrap()).unwrap();
        let hash = record["password"].as_str().unwrap();
        assert!(bcrypt::verify(pw, hash).unwrap(), "{user}");
        assert!(!bcrypt::verify("wrong", hash).unwrap(), "{user}");
        assert!(hash.starts_with("$2b$10$"), "cost 10: {hash}");
    }
}

#[test]
fn validate_demo_policy_is_clean() {
    let r = tg_in(
        Some(&common::crate_dir().join("..")),
        "policy validate policy/demo.toml",
        &[],
    );
    r.succeeded();
    assert_eq!(
        r.stdout,
        "policy/demo.toml: OK (6 users, 2 API keys, 7 rules)\n"
    );
}

#[test]
fn validate_reports_every_problem_with_file_and_line() {
    let fixtures = common::crate_dir().join("tests/fixtures");
    let r = tg_in(Some(&fixtures), "policy validate bad.toml", &[]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.is_empty());
    golden("validate-bad.txt", &r.stderr);
    // render refuses the same file and prints nothing to pipe into wrangler.
    let r = tg_in(Some(&fixtures), "policy render bad.toml", &[]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.is_empty());
}

#[test]
fn unknown_fields_and_missing_files_are_named() {
    let fixtures = common::crate_dir().join("tests/fixtures");
    let r = tg_in(Some(&fixtures), "policy validate unknown-field.toml", &[]);
    assert_eq!(r.code, 1);
    golden("validate-unknown-field.txt", &r.stderr);
    tg("policy render /nonexistent/policy.toml", &[])
        .fails(1, "/nonexistent/policy.toml: cannot read the policy file");
}

#[test]
fn the_commented_example_policy_is_valid() {
    let r = tg("policy validate {}", &[&repo_file("policy/example.toml")]);
    r.succeeded();
    assert!(
        r.stdout.ends_with("OK (2 users, 0 API keys, 9 rules)\n"),
        "{}",
        r.stdout
    );
}

#[test]
fn federation_policy_validates_and_renders_the_issuers_record() {
    let fixture = common::crate_dir().join("tests/fixtures/federation.toml");
    let fixture = fixture.to_str().unwrap();
    let r = tg("policy validate {}", &[fixture]);
    r.succeeded();
    let r = tg("policy render {}", &[fixture]);
    r.succeeded();
    let entries: Vec<serde_json::Value> = serde_json::from_str(&r.stdout).unwrap();
    let issuers = entries
        .iter()
        .find(|e| e["key"] == "issuers")
        .expect("an issuers record");
    // The worker's own parser accepts it.
    let parsed =
        tollgate_core::federation::Issuers::from_json(issuers["value"].as_str().unwrap()).unwrap();
    assert_eq!(parsed.by_username("github-actions").unwrap().name, "github");
    let acl = entries.iter().find(|e| e["key"] == "acl").unwrap();
    tollgate_core::policy::Acl::from_json(acl["value"].as_str().unwrap()).unwrap();
}

#[test]
fn federation_mistakes_are_reported() {
    let dir = std::env::temp_dir().join(format!("tg-fed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad-fed.toml");
    std::fs::write(
        &file,
        r#"
[[issuers]]
name = "github"
issuer = "http://token.actions.githubusercontent.com"
audiences = ["x"]

[[rules]]
match = { issuer = "gitlab", name = "ci/${claims.project_path}" }
actions = ["pull"]

[[rules]]
match = { account = "alice", claims = { ref = "main" } }
actions = ["pull"]
"#,
    )
    .unwrap();
    let r = tg("policy validate {}", &[file.to_str().unwrap()]);
    assert_ne!(r.code, 0);
    r.stderr_has("must use https");
    r.stderr_has("matches no [[issuers]] name");
    r.stderr_has("no principal is both");
    std::fs::remove_dir_all(&dir).ok();
}
