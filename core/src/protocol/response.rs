//! Successful token responses.
//!
//! Distribution (GET /token): `{token, access_token, expires_in, issued_at, refresh_token?}`;
//! both `token` and `access_token` carry the JWT because older clients read one and newer the
//! other. OAuth2 (POST): `{access_token, token_type, scope, expires_in, issued_at, refresh_token?}`
//! with `scope` the granted scopes, space-separated (RFC 6749 5.1). `issued_at` is RFC 3339 UTC.

use super::{Flavor, HttpResponse};
use crate::token::Access;
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

/// What the service issued, independent of the dialect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Issued {
    /// The signed JWT.
    pub token: String,
    /// Lifetime in seconds.
    pub expires_in: u64,
    /// Unix seconds of issuance (`iat`).
    pub issued_at: u64,
    /// A new refresh token, when the client asked for offline access.
    pub refresh_token: Option<String>,
    /// The granted access (also in the JWT).
    pub access: Vec<Access>,
}

/// Unix seconds as RFC 3339 UTC (`2026-11-28T08:00:00Z`). Out-of-range times (beyond year
/// 262143) cannot come from a real clock; they render as the epoch rather than panic.
pub(crate) fn rfc3339(unix_seconds: u64) -> String {
    i64::try_from(unix_seconds)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The granted access as scope strings (`type:name:actions`), space-separated; entries with no
/// granted action are left out.
pub(crate) fn granted_scope(access: &[Access]) -> String {
    access
        .iter()
        .filter(|a| !a.actions.is_empty())
        .map(Access::scope_string)
        .collect::<Vec<_>>()
        .join(" ")
}

// The bodies are typed and borrow the token rather than building a `serde_json::Value`: that
// copied the JWT (twice for distribution's `token` + `access_token`) into a map on every token.

/// The JWT as a JSON string, checked once and then written as it is. serde_json's string
/// escaper walks a `&str` a byte at a time, and the token (~1.2 KB with `x5c`) is in a
/// distribution body twice: that walk was ~3% of a warm token's isolate time in a profile
/// (bench/README.md, "Steady state"), the largest single item of Tollgate's own. A compact JWS is
/// base64url and dots, so it never needs escaping; serde_json's reader (`from_slice` into a
/// `&RawValue`) still checks that it is one JSON string, eight bytes at a time. Should that
/// check ever fail, the token is written through the escaper as before: never unescaped text.
pub(crate) struct JwtJson<'a>(Result<Box<RawValue>, &'a str>);

impl<'a> JwtJson<'a> {
    pub(crate) fn new(token: &'a str) -> Self {
        let mut quoted = Vec::with_capacity(token.len() + 2);
        quoted.push(b'"');
        quoted.extend_from_slice(token.as_bytes());
        quoted.push(b'"');
        // `from_slice`, not `RawValue::from_string`: the slice reader is the one Tollgate's other
        // JSON already compiles in; a second reader was ~4.5 KB more of the worker's gzip.
        // Not `json_object`: a string is checked here, no struct is read.
        #[allow(clippy::disallowed_methods)]
        let raw = serde_json::from_slice::<&RawValue>(&quoted).map(|raw| raw.to_owned());
        JwtJson(raw.map_err(|_| token))
    }
}

impl Serialize for JwtJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Ok(raw) => raw.serialize(s),
            Err(token) => token.serialize(s),
        }
    }
}

/// The distribution token spec's body.
#[derive(Serialize)]
pub(crate) struct DistributionBody<'a> {
    token: &'a JwtJson<'a>,
    access_token: &'a JwtJson<'a>,
    expires_in: u64,
    issued_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
}

/// The OAuth2 body (distribution oauth.md, RFC 6749 5.1).
#[derive(Serialize)]
pub(crate) struct OAuth2Body<'a> {
    access_token: &'a JwtJson<'a>,
    token_type: &'static str,
    scope: String,
    expires_in: u64,
    issued_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
}

/// The 200 answer to a token request, in `flavor`'s body.
///
/// Each body is written by a function of its own, which LLVM does not inline: V8 compiles a wasm
/// function whole on its first call, and a new isolate's first token request writes one of the
/// two bodies, never both (with both inlined into the token flow, docker's first `GET /token`
/// compiled the OAuth2 body's serializer too; bench/README.md, "What a first request compiles").
/// binaryen still inlines the smaller distribution answer back into the token flow (one caller,
/// under scripts/build.sh's one-caller size limit), which costs nothing: a `GET` runs it anyway.
pub(crate) fn token_answer(flavor: Flavor, issued: &Issued) -> HttpResponse {
    match flavor {
        Flavor::Distribution => distribution_answer(issued),
        Flavor::OAuth2 => oauth2_answer(issued),
    }
}

/// Room for the JWT twice (distribution's `token` and `access_token`) and the other fields.
fn answer_capacity(issued: &Issued) -> usize {
    2 * issued.token.len() + 256
}

#[inline(never)]
fn distribution_answer(issued: &Issued) -> HttpResponse {
    let jwt = JwtJson::new(&issued.token);
    HttpResponse::json_sized(
        200,
        &distribution_body(issued, &jwt),
        answer_capacity(issued),
    )
}

#[inline(never)]
fn oauth2_answer(issued: &Issued) -> HttpResponse {
    let jwt = JwtJson::new(&issued.token);
    HttpResponse::json_sized(200, &oauth2_body(issued, &jwt), answer_capacity(issued))
}

/// The distribution token spec's body; `jwt` is `issued.token` (`JwtJson::new`).
pub(crate) fn distribution_body<'a>(
    issued: &'a Issued,
    jwt: &'a JwtJson<'a>,
) -> DistributionBody<'a> {
    DistributionBody {
        token: jwt,
        access_token: jwt,
        expires_in: issued.expires_in,
        issued_at: rfc3339(issued.issued_at),
        refresh_token: issued.refresh_token.as_deref(),
    }
}

/// The OAuth2 body (distribution oauth.md, RFC 6749 5.1); `jwt` is `issued.token`.
pub(crate) fn oauth2_body<'a>(issued: &'a Issued, jwt: &'a JwtJson<'a>) -> OAuth2Body<'a> {
    OAuth2Body {
        access_token: jwt,
        token_type: "Bearer",
        scope: granted_scope(&issued.access),
        expires_in: issued.expires_in,
        issued_at: rfc3339(issued.issued_at),
        refresh_token: issued.refresh_token.as_deref(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn value(body: impl Serialize) -> Value {
        serde_json::from_slice(&serde_json::to_vec(&body).unwrap()).unwrap()
    }

    fn distribution(i: &Issued) -> Value {
        value(distribution_body(i, &JwtJson::new(&i.token)))
    }

    fn oauth2(i: &Issued) -> Value {
        value(oauth2_body(i, &JwtJson::new(&i.token)))
    }

    fn issued(refresh: Option<&str>) -> Issued {
        Issued {
            token: "h.p.s".into(),
            expires_in: 300,
            issued_at: 1_764_316_800,
            refresh_token: refresh.map(String::from),
            access: vec![
                Access {
                    resource_type: "repository".into(),
                    name: "a/b".into(),
                    actions: vec!["pull".into(), "push".into()],
                },
                Access {
                    resource_type: "repository".into(),
                    name: "c".into(),
                    actions: vec![],
                },
            ],
        }
    }

    #[test]
    fn rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_764_316_800), "2025-11-28T08:00:00Z");
        assert_eq!(rfc3339(u64::MAX), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn distribution_shape() {
        let v = distribution(&issued(None));
        assert_eq!(v["token"], "h.p.s");
        assert_eq!(v["access_token"], "h.p.s");
        assert_eq!(v["expires_in"], 300);
        assert_eq!(v["issued_at"], "2025-11-28T08:00:00Z");
        assert!(v.get("refresh_token").is_none());
        assert_eq!(
            distribution(&issued(Some("tgr_x")))["refresh_token"],
            "tgr_x"
        );
    }

    #[test]
    fn oauth2_shape() {
        let v = oauth2(&issued(Some("tgr_x")));
        assert_eq!(v["access_token"], "h.p.s");
        assert_eq!(v["token_type"], "Bearer");
        assert_eq!(v["scope"], "repository:a/b:pull,push");
        assert_eq!(v["refresh_token"], "tgr_x");
        assert!(v.get("token").is_none());
        assert!(oauth2(&issued(None)).get("refresh_token").is_none());
    }

    /// The token written as checked JSON is byte for byte what the escaper writes for it.
    #[test]
    fn jwt_json_is_what_the_escaper_writes() {
        let token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJjaS1ib3QifQ.s-_9AZaz";
        let raw = JwtJson::new(token);
        assert!(raw.0.is_ok());
        assert_eq!(
            serde_json::to_string(&raw).unwrap(),
            serde_json::to_string(token).unwrap()
        );
    }

    /// Text that is not a JSON string's contents (impossible for a compact JWS) is escaped, never
    /// written raw: the body stays one JSON object with the token as it was.
    #[test]
    fn jwt_json_escapes_what_is_not_a_jws() {
        for odd in ["a\"b", "a\\", "\u{1}", "a\",\"x\":\"y", ""] {
            let i = Issued {
                token: odd.into(),
                ..issued(None)
            };
            let v = distribution(&i);
            assert_eq!(v["token"], odd, "{odd:?}");
            assert_eq!(v["access_token"], odd);
            assert!(v.get("x").is_none());
            assert_eq!(oauth2(&i)["access_token"], odd);
        }
    }
}
