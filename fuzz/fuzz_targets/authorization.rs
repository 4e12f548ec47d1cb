//! `Authorization` header parsing (Basic and Bearer): bounded results, and Basic credentials that
//! survive re-encoding. The read-ahead hint of a presented key or token (issue 17): bounded, and
//! exactly what minting that hint writes.
#![no_main]

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use tollgate_core::credentials::{
    encode_credential, parse_basic_authorization, parse_bearer_authorization, read_hint,
    API_KEY_PREFIX, REFRESH_PREFIX,
};
use tollgate_core::limits::{MAX_ACCOUNT_LEN, MAX_IDENTITY_TOKEN_LEN, MAX_TOKEN_LEN};

fuzz_target!(|data: &[u8]| {
    let Ok(header) = std::str::from_utf8(data) else {
        return;
    };
    match parse_basic_authorization(header) {
        Ok(c) => {
            assert!(!c.username.is_empty() && c.username.len() <= MAX_ACCOUNT_LEN);
            assert!(
                !c.username.contains(':'),
                "the username ends at the first ':'"
            );
            // The password may be an OIDC identity token; ordinary passwords are bounded later.
            assert!(c.password.expose().len() <= MAX_IDENTITY_TOKEN_LEN);
            assert!(
                !format!("{c:?}").contains("password: Secret(\""),
                "Debug must redact the password"
            );
            let again = format!(
                "Basic {}",
                STANDARD.encode(format!("{}:{}", c.username, c.password.expose()))
            );
            assert_eq!(parse_basic_authorization(&again).as_ref(), Ok(&c));
            hint_is_bounded(c.password.expose());
        }
        Err(e) => {
            // Fixed messages: nothing from the header (which may hold a secret) is echoed.
            assert!(e.to_string().len() < 200);
        }
    }
    if let Ok(token) = parse_bearer_authorization(header) {
        assert!(!token.is_empty() && token.len() <= MAX_TOKEN_LEN);
        assert_eq!(
            token,
            token.trim(),
            "surrounding whitespace kept in {token:?}"
        );
        assert!(header.contains(token));
        hint_is_bounded(token);
    }
});

/// A hint read from `presented` names a usable account (and a digest), and minting a credential
/// with that hint reads back the same hint (when it fits the length bound).
fn hint_is_bounded(presented: &str) {
    for prefix in [API_KEY_PREFIX, "tgp_", REFRESH_PREFIX] {
        let Some(h) = read_hint(prefix, presented) else {
            continue;
        };
        assert!(!h.account.is_empty() && h.account.len() <= MAX_ACCOUNT_LEN);
        assert!(!h.account.chars().any(char::is_control));
        assert!(h.api_key.as_ref().is_none_or(|d| d.len() == 64));
        let minted = encode_credential(prefix, &[0; 32], &h.account, h.api_key.as_deref());
        if minted.contains('.') {
            assert_eq!(read_hint(prefix, &minted).as_ref(), Some(&h));
        }
    }
}
