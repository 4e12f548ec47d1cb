//! `WWW-Authenticate` values (RFC 7235 auth-params, RFC 6750 for Bearer).
//!
//! A registry answers `Bearer realm="<token URL>",service="<service>",scope="<scopes>"` and adds
//! `error="insufficient_scope"` when a token lacks an action; clients parse it to find the token
//! endpoint, so every value is a correctly escaped quoted-string. The token endpoint's own 401
//! uses `Basic realm=...`: Docker, containerd and skopeo send Basic credentials to it.

/// Renders `value` as an RFC 7230 quoted-string: `"` and `\` are backslash-escaped; control
/// characters (which a header cannot carry) are dropped.
pub(crate) fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn render(scheme: &str, params: &[(&str, &str)]) -> String {
    let parts: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", quote(v)))
        .collect();
    format!("{scheme} {}", parts.join(","))
}

/// `Basic realm="..."`: the token endpoint asks for a username and password.
pub(crate) fn basic(realm: &str) -> String {
    render("Basic", &[("realm", realm)])
}

/// A registry's challenge: where to get a token, for which service, with which scopes
/// (space-separated, as distribution sends them), and optionally why the last token failed
/// (`insufficient_scope`, `invalid_token`).
pub(crate) fn bearer(
    realm: &str,
    service: &str,
    scope: Option<&str>,
    error: Option<&str>,
) -> String {
    let mut params = vec![("realm", realm), ("service", service)];
    if let Some(s) = scope.filter(|s| !s.is_empty()) {
        params.push(("scope", s));
    }
    if let Some(e) = error {
        params.push(("error", e));
    }
    render("Bearer", &params)
}

/// A Bearer refusal from the token endpoint itself (RFC 6750 3.1), e.g. a wrong API key.
pub(crate) fn bearer_error(realm: &str, error: &str, description: &str) -> String {
    render(
        "Bearer",
        &[
            ("realm", realm),
            ("error", error),
            ("error_description", description),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_challenge_shape() {
        assert_eq!(
            bearer(
                "https://auth.example/token",
                "registry.local",
                Some("repository:a/b:pull,push"),
                None
            ),
            r#"Bearer realm="https://auth.example/token",service="registry.local",scope="repository:a/b:pull,push""#
        );
        assert_eq!(
            bearer(
                "r",
                "s",
                Some("repository:a:pull repository:b:pull"),
                Some("insufficient_scope")
            ),
            r#"Bearer realm="r",service="s",scope="repository:a:pull repository:b:pull",error="insufficient_scope""#
        );
        assert_eq!(
            bearer("r", "s", Some(""), None),
            r#"Bearer realm="r",service="s""#
        );
    }

    #[test]
    fn quoting_escapes_and_drops_controls() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(quote("a\r\nb"), "\"ab\"");
        assert_eq!(basic("tollgate"), "Basic realm=\"tollgate\"");
    }

    #[test]
    fn bearer_error_has_description() {
        let v = bearer_error("r", "invalid_token", "unknown \"key\"");
        assert_eq!(
            v,
            r#"Bearer realm="r",error="invalid_token",error_description="unknown \"key\"""#
        );
    }
}
