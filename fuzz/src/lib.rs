//! Fixtures and invariant checks shared by the fuzz targets (fuzz_targets/*.rs).
//!
//! Each target drives tollgate-core's public functions with untrusted input and checks more than
//! "no panic": round trips, bounds the limits module promises, and that a grant never exceeds what
//! was asked or what a rule allows.

use std::sync::OnceLock;
use tollgate_core::limits::{MAX_ACTIONS, MAX_SCOPES};
use tollgate_core::scope::Scope;
use tollgate_core::token::{
    parse_pem_bundle, Access, PublicKey, RegistryClaims, Signer, SigningKey, Verifier,
};

/// The unit tests' throwaway keys (public by being committed; see core/src/token_service/testdata).
const ES256_PEM: &str = include_str!("../../core/src/token_service/testdata/es256.pem");
const ES256_CRT: &str = include_str!("../../core/src/token_service/testdata/es256.crt");
const ES256_NEXT_CRT: &str = include_str!("../../core/src/token_service/testdata/es256-next.crt");
const RS256_PEM: &str = include_str!("../../core/src/token_service/testdata/rs256.pem");

pub const ISSUER: &str = "tollgate";
pub const AUDIENCE: &str = "registry.local";
/// The fixed clock the token targets verify at: inside every fixture token's validity window.
pub const NOW: u64 = 1_700_000_100;

/// Valid tokens signed by the fixture keys, and a verifier that trusts exactly those keys.
pub struct TokenFixture {
    pub verifier: Verifier,
    /// Valid tokens: ES256 with kid, ES256 with kid and x5c, RS256 with kid.
    pub tokens: Vec<String>,
    /// The claims every fixture token carries.
    pub claims: RegistryClaims,
}

pub fn fixture_claims() -> RegistryClaims {
    RegistryClaims {
        iss: ISSUER.into(),
        sub: "alice".into(),
        aud: AUDIENCE.into(),
        exp: NOW + 300,
        nbf: NOW - 100,
        iat: NOW - 100,
        jti: "fuzz-jti".into(),
        access: vec![Access {
            resource_type: "repository".into(),
            name: "org/app".into(),
            actions: vec!["pull".into(), "push".into()],
        }],
        net: None,
    }
}

/// Built once per process: RSA key parsing and signing are slow.
pub fn token_fixture() -> &'static TokenFixture {
    static F: OnceLock<TokenFixture> = OnceLock::new();
    F.get_or_init(|| {
        let es = SigningKey::from_pkcs8_pem(ES256_PEM).expect("es256 fixture");
        let rs = SigningKey::from_pkcs8_pem(RS256_PEM).expect("rs256 fixture");
        let claims = fixture_claims();
        let signers = [
            Signer::new(es.clone(), None).expect("es256 signer"),
            Signer::new(es.clone(), Some(ES256_CRT)).expect("es256 signer with x5c"),
            Signer::new(rs.clone(), None).expect("rs256 signer"),
        ];
        let tokens = signers
            .iter()
            .map(|s| s.sign(&claims).expect("sign fixture"))
            .collect();
        // Trust a second, unused ES256 key too, so key selection has a choice to get wrong.
        let mut keys: Vec<PublicKey> = vec![es.public_key(), rs.public_key()];
        keys.extend(parse_pem_bundle(ES256_NEXT_CRT).expect("es256-next fixture"));
        TokenFixture {
            verifier: Verifier::new(keys, ISSUER.into(), vec![AUDIENCE.into()], 0),
            tokens,
            claims,
        }
    })
}

/// Tokens signed outside this process with the fixture keys: the committed seeds of the
/// token_verify target (made with another JWT implementation, so their JSON differs).
const SEED_TOKENS: [&[u8]; 3] = [
    include_bytes!("../corpus/token_verify/seed-es256"),
    include_bytes!("../corpus/token_verify/seed-es256-x5c"),
    include_bytes!("../corpus/token_verify/seed-rs256"),
];

/// Whether `token`'s signed part is that of a token the fixture keys really signed (the fixture's
/// own or a seed). Any other token that verifies is a forgery.
pub fn genuinely_signed(token: &str) -> bool {
    let Some(input) = signing_input(token) else {
        return false;
    };
    let f = token_fixture();
    f.tokens.iter().any(|t| signing_input(t) == Some(input))
        || SEED_TOKENS.iter().any(|seed| {
            // Seeds start with the target's mode byte 0 (raw token).
            std::str::from_utf8(&seed[1..]).ok().and_then(signing_input) == Some(input)
        })
}

/// The signing input (`header.payload`) of a compact JWS.
pub fn signing_input(token: &str) -> Option<&str> {
    let (input, _sig) = token.rsplit_once('.')?;
    Some(input)
}

/// A parsed scope keeps the bounds `crate::limits` promises and survives display -> parse.
pub fn check_scope(s: &Scope) {
    assert!(!s.actions.is_empty(), "a scope without actions: {s:?}");
    assert!(s.actions.len() <= MAX_ACTIONS, "too many actions: {s:?}");
    assert!(
        s.actions.windows(2).all(|w| w[0] < w[1]),
        "actions not sorted and unique: {s:?}"
    );
    let shown = s.to_string();
    let again = Scope::parse(&shown).unwrap_or_else(|e| panic!("{shown:?} does not re-parse: {e}"));
    assert_eq!(&again, s, "display/parse round trip changed the scope");
}

/// The merged scopes of one request: bounded, one entry per resource, actions sorted and unique.
pub fn check_merged(scopes: &[Scope]) {
    assert!(scopes.len() <= MAX_SCOPES);
    for (i, a) in scopes.iter().enumerate() {
        assert!(a.actions.windows(2).all(|w| w[0] < w[1]), "{a:?}");
        assert!(a.actions.len() <= MAX_ACTIONS * MAX_SCOPES, "{a:?}");
        for b in &scopes[i + 1..] {
            assert!(
                !(a.resource_type == b.resource_type
                    && a.resource_class == b.resource_class
                    && a.name == b.name),
                "one resource listed twice after merging: {a:?} {b:?}"
            );
        }
    }
}

/// Every granted entry names a requested resource and only actions that were asked for it.
/// (`Access` has no resource class, so scopes differing only in class count as one resource.)
pub fn check_grant_subset(requested: &[Scope], granted: &[Access]) {
    for g in granted {
        assert!(!g.actions.is_empty(), "an empty grant was emitted: {g:?}");
        let asked: Vec<&Scope> = requested
            .iter()
            .filter(|s| s.resource_type == g.resource_type && s.name == g.name)
            .collect();
        assert!(
            !asked.is_empty(),
            "granted a resource that was not requested: {g:?}"
        );
        for a in &g.actions {
            assert!(
                asked.iter().any(|s| s.actions.contains(a)),
                "granted action {a:?} that was not asked for: {g:?} vs {asked:?}"
            );
        }
    }
}
