//! Token request parsing: GET query strings and OAuth2 form bodies (query + body), then the scope
//! parser on what they yield, as the token service chains them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_core::limits::{MAX_ACCOUNT_LEN, MAX_FORM_LEN, MAX_SCOPES, MAX_SCOPE_LEN};
use tollgate_core::protocol::request::check_form_content_type;
use tollgate_core::protocol::{Grant, TokenRequest};
use tollgate_core::scope::parse_scopes;
use tollgate_fuzz::check_merged;

const CONTENT_TYPES: [Option<&str>; 4] = [
    None,
    Some("application/x-www-form-urlencoded"),
    Some("application/x-www-form-urlencoded; charset=utf-8"),
    Some("application/json"),
];

fn check(r: &TokenRequest) {
    assert!(r.scopes.len() <= MAX_SCOPES);
    for s in &r.scopes {
        assert!(!s.is_empty() && s.len() <= MAX_SCOPE_LEN && !s.contains(' '));
    }
    for v in [&r.service, &r.client_id, &r.account].into_iter().flatten() {
        assert!(!v.is_empty() && v.len() <= 255, "{v:?}");
        assert!(
            !v.chars().any(char::is_control),
            "control char kept in {v:?}"
        );
    }
    match &r.grant {
        Grant::Password { username, password } => {
            assert!(!username.is_empty() && username.len() <= MAX_ACCOUNT_LEN);
            assert!(!password.expose().is_empty() && password.expose().len() <= MAX_FORM_LEN);
            assert_eq!(format!("{password:?}"), "Secret(<redacted>)");
        }
        Grant::RefreshToken { refresh_token } => {
            assert!(!refresh_token.expose().is_empty());
            assert_eq!(format!("{refresh_token:?}"), "Secret(<redacted>)");
        }
        Grant::Header | Grant::ClientCredentials => {}
    }
    if let Ok(scopes) = parse_scopes(r.scopes.iter().map(String::as_str)) {
        check_merged(&scopes);
    }
}

// Input: one flag byte (bit 0: GET, bits 1-2: Content-Type), then the query string, a NUL, the
// body; plain text so seeds are real requests.
fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (query, body) = match rest.iter().position(|&b| b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let Ok(query) = std::str::from_utf8(query) else {
        return;
    };
    let result = if flags & 1 == 1 {
        TokenRequest::from_get(query)
    } else {
        let content_type = CONTENT_TYPES[usize::from(flags >> 1) % CONTENT_TYPES.len()];
        let _ = check_form_content_type(content_type, body);
        TokenRequest::from_oauth2(query, body)
    };
    match result {
        Ok(r) => check(&r),
        Err(e) => assert!(
            !e.message.is_empty() && e.message.len() < 400,
            "{:?}",
            e.message
        ),
    }
});
