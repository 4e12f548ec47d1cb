use super::*;

fn hash(cost: u32) -> String {
    bcrypt::hash_with_salt("pw", cost, [7u8; 16])
        .unwrap()
        .format_for_version(bcrypt::Version::TwoY)
}

/// Patches a valid cost-10 hash's cost digits without running bcrypt at that cost.
fn with_cost(cost: &str) -> String {
    let h = hash(10);
    format!("{}{cost}{}", &h[..4], &h[6..])
}

#[test]
fn cost_range_is_enforced_without_running_bcrypt() {
    assert_eq!(stored_bcrypt_hash(&hash(10)), Ok(10));
    assert_eq!(bcrypt_hash(&hash(10)), Ok(()));
    assert_eq!(stored_bcrypt_hash(&with_cost("14")), Ok(14));
    for c in ["15", "17", "31", "99"] {
        let want = HashProblem::CostAbove(c.parse().unwrap());
        assert_eq!(stored_bcrypt_hash(&with_cost(c)), Err(want.clone()));
        assert_eq!(bcrypt_hash(&with_cost(c)), Err(want));
    }
    // Below the floor: the worker may run it (tests use cost 4), the CLI refuses it.
    assert_eq!(stored_bcrypt_hash(&hash(4)), Ok(4));
    assert_eq!(bcrypt_hash(&hash(4)), Err(HashProblem::CostBelow(4)));
    assert!(HashProblem::CostAbove(17).to_string().contains("cost 17"));
}

#[test]
fn salt_and_hash_must_be_bcrypt_base64() {
    let good = hash(10);
    // '!' and '+' are not in bcrypt's alphabet; the salt's last character carries only 2 bits.
    let bad_salt = format!("{}!{}", &good[..7], &good[8..]);
    let plus_salt = format!("{}+{}", &good[..7], &good[8..]);
    let bad_hash = format!("{}!", &good[..59]);
    assert_eq!(
        stored_bcrypt_hash(&bad_salt),
        Err(HashProblem::Alphabet("salt"))
    );
    assert_eq!(
        stored_bcrypt_hash(&plus_salt),
        Err(HashProblem::Alphabet("salt"))
    );
    assert_eq!(
        stored_bcrypt_hash(&bad_hash),
        Err(HashProblem::Alphabet("hash"))
    );
    // What the finding showed: bcrypt runs on such a hash and then answers "no match".
    assert!(bcrypt::verify("pw", &bad_hash).is_err());
    for shape in [
        "",
        "plain",
        "$2x$10$",
        &good[..59],
        &format!("{good}x"),
        "$2y$1a$",
    ] {
        assert_eq!(
            stored_bcrypt_hash(shape),
            Err(HashProblem::Shape),
            "{shape}"
        );
    }
    let wide = format!("{}é{}", &good[..7], &good[9..]);
    assert_eq!(wide.len(), 60);
    assert!(
        stored_bcrypt_hash(&wide).is_err(),
        "multi-byte text never panics"
    );
}

#[test]
fn accounts_that_federation_takes_over_conflict() {
    let issuers = Issuers::from_json(
        r#"[{"name":"github","issuer":"https://token.actions.githubusercontent.com",
                 "audiences":["https://registry.example"],"username":"github-actions"}]"#,
    )
    .unwrap();
    let c = login_conflict("github-actions", &issuers).unwrap();
    assert_eq!(c.issuer.as_deref(), Some("github"));
    assert!(c.to_string().contains("issuer 'github'"), "{c}");
    let c = login_conflict("oidc", &issuers).unwrap();
    assert_eq!(c.issuer, None);
    assert!(c.to_string().contains("reserved"), "{c}");
    assert_eq!(login_conflict("alice", &issuers), None);
    // Without issuers, federation is off and `oidc` is an ordinary name.
    assert_eq!(login_conflict("oidc", &Issuers::default()), None);
    let user = UserRecord {
        password: Some(with_cost("17")),
        ..UserRecord::default()
    };
    assert!(stored_user("alice", &user, &issuers)
        .unwrap_err()
        .contains("cost 17"));
    let fine = UserRecord::default();
    assert!(stored_user("oidc", &fine, &issuers)
        .unwrap_err()
        .contains("reserved"));
    assert_eq!(stored_user("alice", &fine, &issuers), Ok(()));
}
