//! `tollgate explain` on the demo policy: the decisions the Miniflare and interop tests expect.

mod common;

use common::*;

fn explain(args: &[&str]) -> common::Run {
    let root = common::crate_dir().join("..");
    let mut all = vec!["explain", "--policy", "policy/demo.toml"];
    all.extend_from_slice(args);
    run_in(Some(&root), &all)
}

fn claim(stdout: &str) -> serde_json::Value {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("access claim: "))
        .expect("an access claim line");
    serde_json::from_str(line).unwrap()
}

#[test]
fn alice_golden_explanation() {
    let r = explain(&[
        "--account",
        "alice",
        "--scope",
        "repository:org/app:pull,push",
        "--scope",
        "repository:alice/tools:push repository:bob/x:pull repository:org/secret-x:pull registry:catalog:*",
    ]);
    r.succeeded();
    golden("explain-alice.txt", &r.stdout);
}

#[test]
fn demo_users_get_what_policy_readme_promises() {
    let cases: &[(&[&str], &str, serde_json::Value)] = &[
        (
            &["--account", "admin"],
            "registry:catalog:*",
            serde_json::json!([{"type":"registry","name":"catalog","actions":["*"]}]),
        ),
        (
            &["--account", "admin"],
            "repository:org/secret:pull,push",
            serde_json::json!([{"type":"repository","name":"org/secret","actions":["pull","push"]}]),
        ),
        (
            &["--account", "bob"],
            "repository:org/app:pull,push",
            serde_json::json!([{"type":"repository","name":"org/app","actions":["pull"]}]),
        ),
        (
            &["--account", "bob"],
            "repository:bob/app:push",
            serde_json::json!([]),
        ),
        (
            &["--account", "alice"],
            "repository:alice/app:pull,push",
            serde_json::json!([{"type":"repository","name":"alice/app","actions":["pull","push"]}]),
        ),
        (
            &["--account", "alice"],
            "registry:catalog:*",
            serde_json::json!([]),
        ),
        (
            &["--account", "ci-bot"],
            "repository:org/app:push,pull",
            serde_json::json!([{"type":"repository","name":"org/app","actions":["pull","push"]}]),
        ),
        (
            &["--account", "ci-bot"],
            "repository:ci-bot/app:push",
            serde_json::json!([]),
        ),
        (
            &["--account", "chart-user"],
            "artifact-repository:org1/repo1:pull,push",
            serde_json::json!([{"type":"artifact-repository","name":"org1/repo1","actions":["pull","push"]}]),
        ),
        (
            &["--account", "chart-user"],
            "repository:org/app:pull",
            serde_json::json!([]),
        ),
        (
            &["--anonymous"],
            "repository:public/app:pull,push",
            serde_json::json!([{"type":"repository","name":"public/app","actions":["pull"]}]),
        ),
        (
            &["--anonymous"],
            "repository:org/app:pull",
            serde_json::json!([]),
        ),
    ];
    for (who, scope, want) in cases {
        let mut args = who.to_vec();
        args.extend(["--scope", scope]);
        let r = explain(&args);
        assert_eq!(r.code, 0, "{who:?} {scope}: {}", r.stderr);
        assert_eq!(&claim(&r.stdout), want, "{who:?} {scope}:\n{}", r.stdout);
    }
}

#[test]
fn disabled_user_is_flagged() {
    let r = explain(&[
        "--account",
        "disabled-user",
        "--scope",
        "repository:org/app:push",
    ]);
    r.succeeded();
    r.stdout_has("DISABLED");
    r.stdout_has("access claim: none, the account is disabled");
}

#[test]
fn bad_input_names_the_flag() {
    explain(&["--account", "nobody", "--scope", "repository:org/app:pull"])
        .fails(1, "--account \"nobody\": no such user in policy/demo.toml");
    let r = explain(&["--account", "alice", "--scope", "repository:org/app"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.starts_with("error: --scope: "), "{}", r.stderr);
    r.stderr_has("expected type:name:actions");
    let r = explain(&["--account", "alice", "--scope", "repository:org/App:pull"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    let r = explain(&["--scope", "repository:org/app:pull"]);
    assert_eq!(r.code, 2, "either --account or --anonymous");
    let root = common::crate_dir().join("..");
    let r = tg_in(
        Some(&root),
        "explain --policy policy/example.toml --account alice --scope repository:org/x:pull",
        &[],
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("policy/example.toml:") && r.stderr.contains("pass --service"),
        "{}",
        r.stderr
    );
    let r = tg_in(Some(&root), "explain --policy policy/example.toml --account alice --service charts.example.com --scope artifact-repository:x/y:pull,push", &[],
    );
    r.succeeded();
    assert_eq!(
        claim(&r.stdout),
        serde_json::json!([{"type":"artifact-repository","name":"x/y","actions":["pull"]}])
    );
}

fn explain_fed(args: &[&str]) -> common::Run {
    let mut all = vec!["explain", "--policy", "tests/fixtures/federation.toml"];
    all.extend_from_slice(args);
    run_in(Some(&common::crate_dir()), &all)
}

#[test]
fn workload_from_claims_golden() {
    let r = explain_fed(&[
        "--issuer",
        "github",
        "--claims",
        "tests/fixtures/federation/github-claims.json",
        "--scope",
        "repository:ci/org/app:pull,push,delete repository:ci/org/other:pull repository:alice/x:pull repository:public/base:pull",
    ]);
    r.succeeded();
    golden("explain-workload-github.txt", &r.stdout);
    assert_eq!(
        claim(&r.stdout),
        serde_json::json!([
            {"type":"repository","name":"ci/org/app","actions":["pull","push"]},
            {"type":"repository","name":"public/base","actions":["pull"]}
        ])
    );
}

#[test]
fn workload_from_unverified_token_picks_issuer_by_iss() {
    let r = explain_fed(&[
        "--identity-token",
        "tests/fixtures/federation/k8s.token",
        "--scope",
        "repository:team-a/app:pull,push",
        "--scope",
        "repository:team-b/app:pull",
    ]);
    r.succeeded();
    golden("explain-workload-k8s.txt", &r.stdout);
    assert!(r
        .stdout
        .starts_with("identity token decoded WITHOUT verification"));
    assert!(r
        .stdout
        .contains("subject k8s-prod:system:serviceaccount:team-a:builder"));
    assert_eq!(
        claim(&r.stdout),
        serde_json::json!([{"type":"repository","name":"team-a/app","actions":["pull"]}])
    );
}

#[test]
fn workload_errors_name_the_problem() {
    let r = explain_fed(&[
        "--issuer",
        "gitlab",
        "--claims",
        "tests/fixtures/federation/github-claims.json",
        "--scope",
        "repository:x:pull",
    ]);
    assert_ne!(r.code, 0);
    r.stderr_has("no [[issuers]] entry");
    let r = explain_fed(&["--issuer", "github", "--scope", "repository:x:pull"]);
    assert_ne!(r.code, 0);
    r.stderr_has("--claims");
}
