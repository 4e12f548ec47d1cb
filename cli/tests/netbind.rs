//! Network-bound API keys in the CLI (issue 16): `apikey create --allow-net/--allow-country`,
//! `apikey list`, and the validator refusing malformed networks.

mod common;

use common::*;
use std::fs;

fn policy(dir: &std::path::Path, text: &str) -> String {
    let p = dir.join("policy.toml");
    fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn create_bound_key_renders_the_binding_and_list_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let p = policy(dir.path(), "[users.ci-bot]\n");
    let r = tg("apikey create --account ci-bot --name ci --allow-net 10.0.0.0/8 --allow-net 2001:DB8::/32 --allow-country de --policy {}", &[&p]);
    r.succeeded();
    let r = tg("policy render {}", &[&p]);
    r.succeeded();
    let entries: Vec<serde_json::Value> = serde_json::from_str(&r.stdout).unwrap();
    let rec: serde_json::Value = entries
        .iter()
        .find(|e| e["key"].as_str().unwrap().starts_with("apikey:"))
        .map(|e| serde_json::from_str(e["value"].as_str().unwrap()).unwrap())
        .unwrap();
    assert_eq!(
        rec["net"],
        serde_json::json!({"cidrs": ["10.0.0.0/8", "2001:db8::/32"], "countries": ["DE"]})
    );
    let r = tg("apikey list --policy {}", &[&p]);
    r.succeeded();
    let line = r.stdout.lines().find(|l| l.starts_with("ci-bot")).unwrap();
    assert!(
        line.contains("10.0.0.0/8,2001:db8::/32") && line.ends_with("DE"),
        "{line}"
    );
}

#[test]
fn malformed_networks_are_refused_by_flag_and_by_the_validator() {
    let dir = tempfile::tempdir().unwrap();
    let p = policy(dir.path(), "[users.ci-bot]\n");
    for bad in ["10.0.0.0", "10.0.0.1/8", "2001:db8::/200", "example.com/24"] {
        let r = tg(
            "apikey create --account ci-bot --name ci --allow-net {} --policy {}",
            &[bad, &p],
        );
        assert_eq!(r.code, 1, "{bad}");
        r.stderr_has("--allow-net");
    }
    assert_eq!(
        fs::read_to_string(&p).unwrap(),
        "[users.ci-bot]\n",
        "nothing written"
    );

    // A key bound to a bad network or country: `policy validate` names the place and the reason.
    for (binding, reason) in [
        ("allow_net = [\"10.0.0.0/8\", \"fe80::1/64\"]", "host bits"),
        ("allow_country = [\"Germany\"]", "country code"),
    ] {
        let digest = "a".repeat(64);
        let key = format!("{{ name = \"ci\", digest = \"{digest}\", created = 1, {binding} }}");
        let p = policy(dir.path(), &format!("[users.ci-bot]\napikeys = [{key}]\n"));
        let r = tg("policy validate {}", &[&p]);
        r.fails(1, "policy.toml:2:");
        r.stderr_has(reason);
    }
}
