//! `tollgate explain` on the demo policy: the decisions the Miniflare and interop tests expect.

mod common;

use common::*;

/// `tollgate explain --policy policy/demo.toml LINE` from the repository root (`{}` in LINE: the
/// next of `values`, as in [`tg`]).
fn explain(line: &str, values: &[&str]) -> common::Run {
    let root = common::crate_dir().join("..");
    let line = format!("explain --policy policy/demo.toml {line}");
    tg_in(Some(&root), &line, values)
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
    explain(
        "--account alice --scope repository:org/app:pull,push --scope {}",
        &["repository:alice/tools:push repository:bob/x:pull repository:org/secret-x:pull registry:catalog:*"],
    )
    .prints("explain-alice.txt");
}

/// The cases of tests/golden/explain-demo-users.txt, each with the claim explain prints now.
#[test]
fn demo_users_get_what_policy_readme_promises() {
    let spec =
        std::fs::read_to_string(common::crate_dir().join("tests/golden/explain-demo-users.txt"))
            .unwrap();
    let mut actual: String = spec
        .lines()
        .take_while(|l| l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    let mut cases = 0;
    for flags in spec.lines().filter(|l| l.starts_with("--")) {
        let r = explain(flags, &[]);
        assert_eq!(r.code, 0, "{flags}: {}", r.stderr);
        let line = r
            .stdout
            .lines()
            .find(|l| l.starts_with("access claim: "))
            .expect("an access claim line");
        actual += &format!("{flags}\n  {line}\n");
        cases += 1;
    }
    assert!(cases > 0, "no cases");
    golden("explain-demo-users.txt", &actual);
}

#[test]
fn disabled_user_is_flagged() {
    let r = explain(
        "--account disabled-user --scope repository:org/app:push",
        &[],
    );
    r.succeeded();
    r.stdout_has("DISABLED");
    r.stdout_has("access claim: none, the account is disabled");
}

#[test]
fn bad_input_names_the_flag() {
    explain("--account nobody --scope repository:org/app:pull", &[])
        .fails(1, "--account \"nobody\": no such user in policy/demo.toml");
    let r = explain("--account alice --scope repository:org/app", &[]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.starts_with("error: --scope: "), "{}", r.stderr);
    r.stderr_has("expected type:name:actions");
    let r = explain("--account alice --scope repository:org/App:pull", &[]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    let r = explain("--scope repository:org/app:pull", &[]);
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

/// `tollgate explain --policy tests/fixtures/federation.toml LINE` from the crate directory.
fn explain_fed(line: &str, values: &[&str]) -> common::Run {
    let line = format!("explain --policy tests/fixtures/federation.toml {line}");
    tg_in(Some(&common::crate_dir()), &line, values)
}

#[test]
fn workload_from_claims_golden() {
    let r = explain_fed(
        "--issuer github --claims tests/fixtures/federation/github-claims.json --scope {}",
        &["repository:ci/org/app:pull,push,delete repository:ci/org/other:pull repository:alice/x:pull repository:public/base:pull"],
    );
    r.prints("explain-workload-github.txt");
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
    let r = explain_fed(
        "--identity-token tests/fixtures/federation/k8s.token --scope repository:team-a/app:pull,push --scope repository:team-b/app:pull",
        &[],
    );
    r.prints("explain-workload-k8s.txt");
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
    let r = explain_fed(
        "--issuer gitlab --claims tests/fixtures/federation/github-claims.json --scope repository:x:pull",
        &[],
    );
    assert_ne!(r.code, 0);
    r.stderr_has("no [[issuers]] entry");
    let r = explain_fed("--issuer github --scope repository:x:pull", &[]);
    assert_ne!(r.code, 0);
    r.stderr_has("--claims");
}
