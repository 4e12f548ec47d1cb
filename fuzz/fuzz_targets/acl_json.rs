//! The policy (`acl` KV record) parser: arbitrary JSON text. An accepted ACL must survive
//! serialize -> parse unchanged, and evaluating it must grant only what was asked.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;
use tollgate_core::policy::{Acl, Principal, Rule};
use tollgate_core::scope::parse_scopes;
use tollgate_fuzz::check_grant_subset;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let acl = match Acl::from_json(text) {
        Ok(acl) => acl,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let json = serde_json::to_string(acl.rules()).expect("rules serialize");
    let again = Acl::from_json(&json).expect("a serialized valid ACL must parse again");
    assert_eq!(again, acl, "serialize/parse round trip changed the ACL");
    let rules: Vec<Rule> = acl.rules().to_vec();
    assert_eq!(Acl::from_rules(rules).as_ref(), Ok(&acl));

    let mut labels = BTreeMap::new();
    labels.insert(
        "team".to_string(),
        vec!["blue".to_string(), "red".to_string()],
    );
    let principals = [
        Principal::Anonymous,
        Principal::user("alice", &["dev".to_string()], &labels).into_owned(),
        Principal::user("admin", &[], &BTreeMap::new()).into_owned(),
        Principal::workload(
            "https://token.actions.githubusercontent.com",
            "repo:MyOrg/App:ref:refs/heads/main",
            &BTreeMap::from([("repository".to_string(), "MyOrg/App".to_string())]),
        )
        .into_owned(),
    ];
    let requested = parse_scopes([
        "repository:org/app:pull,push,delete repository:alice/x:* registry:catalog:*",
        "repository:public/x:pull artifact-repository:org1/repo1:pull,push repository:blue/a:pull",
        "repository:ci/myorg/app:pull,push",
    ])
    .expect("fixed scopes parse");
    for p in &principals {
        let granted = acl.authorize(p, "registry.local", &requested);
        check_grant_subset(&requested, &granted);
        let decisions = acl.explain(p, "registry.local", &requested);
        for d in &decisions {
            let mut all: Vec<String> = d.granted.iter().chain(&d.refused).cloned().collect();
            all.sort();
            assert_eq!(
                all, d.scope.actions,
                "granted + refused must be exactly what was asked"
            );
            if let Some(i) = d.rule {
                let rule = &acl.rules()[i];
                if !rule.actions.iter().any(|a| a == "*") {
                    assert!(d.granted.iter().all(|a| rule.actions.contains(a)));
                }
            } else {
                assert!(
                    d.granted.is_empty(),
                    "no rule matched but something was granted"
                );
            }
        }
    }
    let _ = acl.shadowed_rules();
});
