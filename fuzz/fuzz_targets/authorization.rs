//! `Authorization` header parsing (Basic and Bearer): bounded results, and Basic credentials that
//! survive re-encoding.
#![no_main]

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use tollgate_core::credentials::{parse_basic_authorization, parse_bearer_authorization};
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
    }
});
