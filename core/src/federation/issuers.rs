//! The KV `issuers` record: which OIDC issuers Tollgate trusts, for which audiences, and how a
//! request selects one. Parsed strictly (unknown fields, bad names, plain-http URLs and oversized
//! values are errors) because a typo here is a trust decision.

use super::identity::validate_template;
use crate::limits::{
    DEFAULT_MAX_IDENTITY_LIFETIME, MAX_ACCOUNT_LEN, MAX_AUDIENCES, MAX_IDENTITY_LIFETIME,
    MAX_ISSUERS, MAX_ISSUERS_BYTES, MAX_ISSUER_URL_LEN,
};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;

/// The reserved Basic/password-grant username that selects the issuer from the token's `iss`.
pub const OIDC_USERNAME: &str = "oidc";
/// Bytes in an issuer's name.
const MAX_NAME_LEN: usize = 32;
/// Bytes in a subject template.
const MAX_TEMPLATE_LEN: usize = 256;

/// One trusted issuer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// `[a-z0-9-]`: what ACL rules (`"issuer"`) and audit lines call this issuer.
    pub name: String,
    /// The exact `iss` of its tokens; discovery is fetched from `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    /// Accepted `aud` values; a token must carry at least one.
    pub audiences: Vec<String>,
    /// The Basic / password-grant username that selects this issuer (e.g. `github-actions`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Template of the issued token's `sub`; default `<name>:${claims.sub}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Longest accepted identity-token lifetime (exp - iat) in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lifetime: Option<u64>,
    /// The JWK Set URL, skipping discovery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// The services (token audiences, from SERVICES) this issuer's workloads may obtain tokens
    /// for. Absent: every configured service, and the ACL alone decides what each grants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<String>>,
}

impl IssuerConfig {
    pub(crate) fn max_lifetime(&self) -> u64 {
        self.max_lifetime.unwrap_or(DEFAULT_MAX_IDENTITY_LIFETIME)
    }

    /// The configured template, borrowed; the default is built only where none is configured.
    pub fn subject_template(&self) -> Cow<'_, str> {
        match &self.subject {
            Some(t) => Cow::Borrowed(t),
            None => Cow::Owned(format!("{}:${{claims.sub}}", self.name)),
        }
    }

    /// Where the discovery document lives (OpenID Connect Discovery 1.0, section 4).
    pub(crate) fn discovery_url(&self) -> String {
        format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        )
    }
}

/// Why the `issuers` record was refused. Never holds a secret (the record holds none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssuersError {
    /// The record's size in bytes (more than `MAX_ISSUERS_BYTES`).
    TooLarge(usize),
    /// Not a JSON array of issuer objects: serde's message.
    NotJson(String),
    /// How many issuers are listed (more than `MAX_ISSUERS`).
    TooMany(usize),
    /// One entry is invalid: what is wrong with it, naming the entry.
    Entry(String),
    /// Two entries share a name.
    DuplicateName(String),
    /// Two entries share an issuer URL.
    DuplicateIssuer(String),
    /// Two entries share a username.
    DuplicateUsername(String),
}

impl IssuersError {
    /// What is wrong, without the "the issuers record is invalid" lead (the CLI names the
    /// policy file's `[[issuers]]` instead).
    pub fn reason(&self) -> String {
        struct Reason<'a>(&'a IssuersError);
        impl fmt::Display for Reason<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.write_reason(f)
            }
        }
        Reason(self).to_string()
    }

    fn write_reason(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IssuersError::TooLarge(n) => write!(
                f,
                "the record is {n} bytes; at most {MAX_ISSUERS_BYTES} are allowed"
            ),
            IssuersError::NotJson(e) => write!(f, "not a JSON array of issuers: {e}"),
            IssuersError::TooMany(n) => {
                write!(f, "{n} issuers; at most {MAX_ISSUERS} are allowed")
            }
            IssuersError::Entry(why) => f.write_str(why),
            IssuersError::DuplicateName(name) => write!(f, "name '{name}' appears twice"),
            IssuersError::DuplicateIssuer(url) => write!(
                f,
                "issuer URL '{url}' appears twice (the token's iss must pick one entry)"
            ),
            IssuersError::DuplicateUsername(u) => write!(f, "username '{u}' selects two issuers"),
        }
    }
}

impl fmt::Display for IssuersError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the issuers record is invalid: ")?;
        self.write_reason(f)
    }
}

impl std::error::Error for IssuersError {}

/// The trusted issuers. Empty (no `issuers` record) means federation is off.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Issuers {
    list: Vec<IssuerConfig>,
}

/// `https://...`, or `http://` to a loopback host (test fixtures only), with no credentials,
/// query or fragment.
pub(crate) fn check_url(what: &str, raw: &str) -> Result<(), String> {
    if raw.len() > MAX_ISSUER_URL_LEN {
        return Err(format!("{what} is longer than {MAX_ISSUER_URL_LEN} bytes"));
    }
    let url = url::Url::parse(raw).map_err(|e| format!("{what} '{raw}' is not a URL ({e})"))?;
    let loopback = matches!(
        url.host(),
        Some(url::Host::Domain("localhost"))
            | Some(url::Host::Ipv4(std::net::Ipv4Addr::LOCALHOST))
            | Some(url::Host::Ipv6(std::net::Ipv6Addr::LOCALHOST))
    );
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => {
            return Err(format!(
                "{what} '{raw}' must use https (plain http only for 127.0.0.1, localhost or [::1])"
            ))
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{what} must not contain credentials"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{what} '{raw}' must not have a query or fragment"));
    }
    Ok(())
}

fn check_issuer(i: &IssuerConfig) -> Result<(), String> {
    let n = &i.name;
    if n.is_empty()
        || n.len() > MAX_NAME_LEN
        || !n
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(format!(
            "name '{}' must be 1-{MAX_NAME_LEN} characters of a-z, 0-9 and '-'",
            n.chars().take(64).collect::<String>()
        ));
    }
    let ctx = |e: String| format!("issuer '{n}': {e}");
    check_url("issuer", &i.issuer).map_err(ctx)?;
    if let Some(u) = &i.jwks_uri {
        check_url("jwks_uri", u).map_err(ctx)?;
    }
    if i.audiences.is_empty() || i.audiences.len() > MAX_AUDIENCES {
        return Err(ctx(format!(
            "audiences must list 1 to {MAX_AUDIENCES} values (the `aud` your CI requests)"
        )));
    }
    if i.audiences
        .iter()
        .any(|a| a.is_empty() || a.len() > MAX_ISSUER_URL_LEN || a.chars().any(char::is_control))
    {
        return Err(ctx(format!(
            "each audience must be 1-{MAX_ISSUER_URL_LEN} bytes without control characters"
        )));
    }
    if let Some(u) = &i.username {
        if u.is_empty()
            || u.len() > MAX_ACCOUNT_LEN
            || u.contains(':')
            || u.chars().any(char::is_control)
        {
            return Err(ctx(format!(
                "username must be 1-{MAX_ACCOUNT_LEN} bytes without ':' or control characters"
            )));
        }
        if u == OIDC_USERNAME {
            return Err(ctx(format!(
                "username '{OIDC_USERNAME}' is reserved (it selects the issuer from the token's iss)"
            )));
        }
    }
    if let Some(t) = &i.subject {
        if t.len() > MAX_TEMPLATE_LEN {
            return Err(ctx(format!(
                "subject is longer than {MAX_TEMPLATE_LEN} bytes"
            )));
        }
        validate_template(t).map_err(|e| ctx(format!("subject: {e}")))?;
    }
    if let Some(services) = &i.services {
        if services.is_empty()
            || services.len() > MAX_AUDIENCES
            || services.iter().any(|s| {
                s.is_empty() || s.len() > MAX_ISSUER_URL_LEN || s.contains(char::is_whitespace)
            })
        {
            return Err(ctx(format!(
                "services must list 1 to {MAX_AUDIENCES} service names (as in SERVICES); leave it out to allow every service"
            )));
        }
    }
    if let Some(l) = i.max_lifetime {
        if !(60..=MAX_IDENTITY_LIFETIME).contains(&l) {
            return Err(ctx(format!(
                "max_lifetime must be between 60 and {MAX_IDENTITY_LIFETIME} seconds"
            )));
        }
    }
    Ok(())
}

impl Issuers {
    /// Parses and validates the KV `issuers` record (a JSON array).
    ///
    /// Never inlined: every user-record check reads `issuers` through the token service's cache
    /// (absent unless federation is set up), and inlined there this parser made every new
    /// isolate's first password or API-key request compile ~5 KB it does not run
    /// (`crate::out_of_line` says why that costs).
    #[inline(never)]
    pub fn from_json(text: &str) -> Result<Issuers, IssuersError> {
        if text.len() > MAX_ISSUERS_BYTES {
            return Err(IssuersError::TooLarge(text.len()));
        }
        let list: Vec<IssuerConfig> = crate::json_object::list_from_slice(text.as_bytes())
            .map_err(|e| IssuersError::NotJson(e.to_string()))?;
        Issuers::from_list(list)
    }

    pub fn from_list(list: Vec<IssuerConfig>) -> Result<Issuers, IssuersError> {
        if list.len() > MAX_ISSUERS {
            return Err(IssuersError::TooMany(list.len()));
        }
        for (idx, i) in list.iter().enumerate() {
            check_issuer(i).map_err(IssuersError::Entry)?;
            let earlier = &list[..idx];
            if earlier.iter().any(|e| e.name == i.name) {
                return Err(IssuersError::DuplicateName(i.name.clone()));
            }
            if earlier.iter().any(|e| e.issuer == i.issuer) {
                return Err(IssuersError::DuplicateIssuer(i.issuer.clone()));
            }
            if i.username.is_some() && earlier.iter().any(|e| e.username == i.username) {
                return Err(IssuersError::DuplicateUsername(
                    i.username.clone().unwrap_or_default(),
                ));
            }
        }
        Ok(Issuers { list })
    }

    pub fn list(&self) -> &[IssuerConfig] {
        &self.list
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn by_name(&self, name: &str) -> Option<&IssuerConfig> {
        self.list.iter().find(|i| i.name == name)
    }

    /// Whether the issuer named `name` may obtain tokens for `service` (its `services`; absent:
    /// every service). An unknown name may obtain nothing.
    pub(crate) fn allows_service(&self, name: &str, service: &str) -> bool {
        self.by_name(name).is_some_and(|i| {
            i.services
                .as_ref()
                .is_none_or(|list| list.iter().any(|s| s == service))
        })
    }

    /// The issuer a Basic / password-grant username selects, if any.
    pub fn by_username(&self, username: &str) -> Option<&IssuerConfig> {
        self.list
            .iter()
            .find(|i| i.username.as_deref() == Some(username))
    }

    /// The issuer whose URL is exactly `iss`.
    pub fn by_iss(&self, iss: &str) -> Option<&IssuerConfig> {
        self.list.iter().find(|i| i.issuer == iss)
    }

    /// Whether `username` asks for federation: an issuer's username or the reserved `oidc`.
    pub(crate) fn selects(&self, username: &str) -> bool {
        !self.is_empty() && (username == OIDC_USERNAME || self.by_username(username).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const GITHUB: &str = r#"[{"name":"github","issuer":"https://token.actions.githubusercontent.com",
        "audiences":["https://registry.example"],"username":"github-actions",
        "subject":"github:${claims.repository}:${claims.ref}","max_lifetime":3600}]"#;

    #[test]
    fn parses_the_documented_example() {
        let i = Issuers::from_json(GITHUB).unwrap();
        let g = i.by_username("github-actions").unwrap();
        assert_eq!(g.name, "github");
        assert_eq!(g.max_lifetime(), 3600);
        assert_eq!(
            g.discovery_url(),
            "https://token.actions.githubusercontent.com/.well-known/openid-configuration"
        );
        assert!(i.selects("oidc") && i.selects("github-actions") && !i.selects("alice"));
        assert!(i
            .by_iss("https://token.actions.githubusercontent.com")
            .is_some());
        assert!(
            !Issuers::default().selects("oidc"),
            "no record: federation off"
        );
    }

    #[test]
    fn defaults() {
        let i = Issuers::from_json(
            r#"[{"name":"k8s","issuer":"http://127.0.0.1:8080","audiences":["tollgate"]}]"#,
        )
        .unwrap();
        let k = i.by_name("k8s").unwrap();
        assert_eq!(k.subject_template(), "k8s:${claims.sub}");
        assert_eq!(k.max_lifetime(), DEFAULT_MAX_IDENTITY_LIFETIME);
        // Kubernetes' default projected token lives 3607 s: it must fit the default.
        const _: () = assert!(DEFAULT_MAX_IDENTITY_LIFETIME >= 3607);
    }

    #[test]
    fn refuses_bad_records() {
        let one = |extra: &str| {
            format!(r#"[{{"name":"x","issuer":"https://i.example","audiences":["a"]{extra}}}]"#)
        };
        assert!(Issuers::from_json(&one("")).is_ok());
        for bad in [
            one(r#","unknown":1"#),
            one(r#","username":"oidc""#),
            one(r#","subject":"${account}""#),
            one(r#","subject":"${claims.sub""#),
            one(r#","max_lifetime":5"#),
            one(r#","max_lifetime":999999"#),
            one(r#","jwks_uri":"http://keys.example/jwks""#),
            r#"[{"name":"x","issuer":"http://i.example","audiences":["a"]}]"#.into(),
            r#"[{"name":"x","issuer":"https://u:p@i.example","audiences":["a"]}]"#.into(),
            r#"[{"name":"X","issuer":"https://i.example","audiences":["a"]}]"#.into(),
            r#"[{"name":"x","issuer":"https://i.example","audiences":[]}]"#.into(),
            r#"[{"name":"x","issuer":"not a url","audiences":["a"]}]"#.into(),
            r#"{"name":"x"}"#.into(),
            // An issuer written as an array, read by field position (crate::json_object).
            r#"[["x","https://i.example",["a"]]]"#.into(),
            format!(
                r#"[{0},{0}]"#,
                r#"{"name":"x","issuer":"https://i.example","audiences":["a"]}"#
            ),
        ] {
            assert!(Issuers::from_json(&bad).is_err(), "accepted: {bad}");
        }
        for ok in ["http://localhost:1/", "http://[::1]:9", "http://127.0.0.1"] {
            assert!(check_url("issuer", ok).is_ok(), "{ok}");
        }
        let many: Vec<String> = (0..=MAX_ISSUERS)
            .map(|n| {
                format!(r#"{{"name":"i{n}","issuer":"https://i{n}.example","audiences":["a"]}}"#)
            })
            .collect();
        assert!(Issuers::from_json(&format!("[{}]", many.join(","))).is_err());
    }
}
