//! Which Tollgate issues credentials for a registry host, without I/O.
//!
//! An explicit setting wins: `TOLLGATE_URL` (+ `TOLLGATE_SERVICE`) for every host, or a host's entry
//! in `$XDG_CONFIG_HOME/tollgate/helper.json`. Otherwise the registry says it itself: `GET /v2/`
//! answers 401 with `WWW-Authenticate: Bearer realm="<Tollgate>/token",service="<service>"`, and
//! Tollgate's base URL is the realm without its `/token` path.
//!
//! Why following the registry's challenge is safe enough: docker, podman and skopeo already send the
//! person's password for this registry to exactly that realm, so the helper trusts nothing they do
//! not. The helper only ever sends Tollgate a `client_id`, the service and the device code; the
//! person then sees the approval page's origin in the browser address bar (the helper prints the
//! URL and refuses verification URLs on another origin than the realm's) and signs in there with
//! their identity provider, so a registry naming a foreign realm cannot obtain more than a page the
//! person can recognise as foreign. The credential obtained is cached for, and only returned for,
//! the registry host that led to it. Plain HTTP is used only for loopback hosts or hosts the
//! configuration marks `insecure`.

use std::collections::BTreeMap;

use serde::Deserialize;
use url::Url;

use crate::protocol::{is_loopback_host, RegistryHost};

/// Where to ask for credentials for one registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tollgate {
    /// The base URL (`https://auth.example.com`), no trailing slash.
    pub base: String,
    /// The registry's service name (token audience), when known.
    pub service: Option<String>,
}

impl Tollgate {
    /// `<base><path>`; `path` starts with `/`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// One host's entry in `helper.json`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// Tollgate's base URL; absent: discovered from the registry's challenge.
    pub url: Option<String>,
    /// The service (token audience) to ask credentials for.
    pub service: Option<String>,
    /// Allow plain HTTP to this registry and its Tollgate (never needed for loopback hosts).
    #[serde(default)]
    pub insecure: bool,
}

/// `$XDG_CONFIG_HOME/tollgate/helper.json`: `{"registries": {"<host>": {"url", "service", "insecure"}}}`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub registries: BTreeMap<String, HostConfig>,
    /// `TOLLGATE_URL` / `TOLLGATE_SERVICE` (environment, not the file): one Tollgate for every host.
    #[serde(skip)]
    pub env_url: Option<String>,
    #[serde(skip)]
    pub env_service: Option<String>,
}

impl Config {
    /// Parses helper.json; host keys are normalised like the hosts clients send.
    pub fn parse(json: &str) -> Result<Config, String> {
        let raw: Config = serde_json::from_str(json).map_err(|e| e.to_string())?;
        let mut registries = BTreeMap::new();
        for (host, entry) in raw.registries {
            let key = RegistryHost::parse(&host).map_err(|e| e.to_string())?;
            if let Some(u) = &entry.url {
                base_url(u, entry.insecure).map_err(|e| format!("{host}: url: {e}"))?;
            }
            registries.insert(key.as_str().to_string(), entry);
        }
        Ok(Config {
            registries,
            ..Config::default()
        })
    }

    fn host(&self, host: &RegistryHost) -> Option<&HostConfig> {
        self.registries.get(host.as_str())
    }

    /// Whether plain HTTP may be used for this registry.
    pub fn insecure(&self, host: &RegistryHost) -> bool {
        host.is_loopback() || self.host(host).is_some_and(|h| h.insecure)
    }

    /// The configured Tollgate for `host`, if any (environment first, then the file).
    pub fn explicit(&self, host: &RegistryHost) -> Result<Option<Tollgate>, String> {
        let insecure = self.host(host).is_some_and(|h| h.insecure);
        if let Some(u) = &self.env_url {
            return Ok(Some(Tollgate {
                base: base_url(u, insecure).map_err(|e| format!("TOLLGATE_URL: {e}"))?,
                service: self.env_service.clone(),
            }));
        }
        match self.host(host) {
            Some(HostConfig {
                url: Some(u),
                service,
                insecure,
            }) => Ok(Some(Tollgate {
                base: base_url(u, *insecure)?,
                service: service.clone(),
            })),
            _ => Ok(None),
        }
    }

    /// A configured service for a discovered Tollgate (`"service"` without `"url"`).
    pub fn service_override(&self, host: &RegistryHost) -> Option<String> {
        self.host(host).and_then(|h| h.service.clone())
    }
}

/// The URL probed for the registry's challenge: `https://<host>/v2/`, or `http://` when allowed.
pub fn probe_url(host: &RegistryHost, insecure: bool) -> String {
    let scheme = if insecure { "http" } else { "https" };
    format!("{scheme}://{host}/v2/")
}

/// Reads the `Bearer` challenge of a registry's 401 (every `WWW-Authenticate` field, which may carry
/// several challenges) and derives Tollgate from its realm.
pub fn from_challenges(headers: &[String], insecure: bool) -> Result<Tollgate, String> {
    for header in headers {
        let Ok(challenges) = http_auth::parse_challenges(header) else {
            continue;
        };
        for c in challenges {
            if !c.scheme.eq_ignore_ascii_case("bearer") {
                continue;
            }
            let param = |name: &str| {
                c.params
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.to_unescaped())
            };
            let realm = param("realm").ok_or("its Bearer challenge has no realm")?;
            let base = realm_base(&realm, insecure)?;
            return Ok(Tollgate {
                base,
                service: param("service").filter(|s| !s.is_empty()),
            });
        }
    }
    Err(if headers.is_empty() {
        "the registry asked for no authentication (no WWW-Authenticate on /v2/)".into()
    } else {
        "the registry does not use token authentication (no Bearer challenge)".into()
    })
}

/// Tollgate's base URL from a token realm: the realm must end in `/token`.
fn realm_base(realm: &str, insecure: bool) -> Result<String, String> {
    let url = Url::parse(realm).map_err(|e| format!("realm {realm:?}: {e}"))?;
    let path = url.path();
    let Some(prefix) = path.strip_suffix("/token") else {
        return Err(format!(
            "realm {} does not end in /token (not a Tollgate)",
            crate::error::printable(realm, 200)
        ));
    };
    let mut base = url.clone();
    base.set_path(prefix);
    base.set_query(None);
    base_url(base.as_str(), insecure)
}

/// Checks and normalises a Tollgate base URL: https (http only for loopback hosts or with
/// `insecure`), no user info, query or fragment; returned without a trailing slash.
pub fn base_url(input: &str, insecure: bool) -> Result<String, String> {
    let url = Url::parse(input).map_err(|e| format!("{input:?}: {e}"))?;
    let host = url
        .host_str()
        .ok_or_else(|| format!("{input:?} has no host"))?;
    match url.scheme() {
        "https" => {}
        "http" if insecure || is_loopback_host(host) => {}
        "http" => {
            return Err(format!(
                "{input} is plain HTTP; only loopback hosts or registries marked \"insecure\" may use it"
            ))
        }
        other => return Err(format!("{input:?}: unsupported scheme {other}")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{input:?} carries user info"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{input:?} has a query or fragment"));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// Whether `candidate` (a verification URI from Tollgate) is on Tollgate's own origin: the person is
/// told to open it, so it must not lead anywhere else.
pub fn same_origin(base: &str, candidate: &str) -> bool {
    match (Url::parse(base), Url::parse(candidate)) {
        (Ok(a), Ok(b)) => {
            a.origin() == b.origin() && b.username().is_empty() && b.password().is_none()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(s: &str) -> RegistryHost {
        RegistryHost::parse(s).unwrap()
    }

    #[test]
    fn tollgate_from_a_registry_challenge() {
        let h = vec![
            r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a:pull""#
                .to_string(),
        ];
        assert_eq!(
            from_challenges(&h, false).unwrap(),
            Tollgate {
                base: "https://auth.example.com".into(),
                service: Some("registry.example.com".into())
            }
        );
        // Under a path, several challenges in one field, lower-case scheme.
        let h = vec![
            r#"Basic realm="x", bearer realm="https://x.example/tg/token",service="s""#.to_string(),
        ];
        assert_eq!(
            from_challenges(&h, false).unwrap().base,
            "https://x.example/tg"
        );
        // Loopback realms may be http.
        let h = vec![
            r#"Bearer realm="http://127.0.0.1:8787/token",service="registry.local""#.to_string(),
        ];
        assert_eq!(
            from_challenges(&h, false).unwrap().base,
            "http://127.0.0.1:8787"
        );
    }

    #[test]
    fn refuses_what_is_not_a_tollgate() {
        for (h, why) in [
            (
                r#"Bearer realm="https://auth.example.com/oauth2/token2""#,
                "does not end in /token",
            ),
            (
                r#"Bearer realm="http://auth.example.com/token""#,
                "plain HTTP",
            ),
            (r#"Bearer service="s""#, "no realm"),
            (r#"Basic realm="registry""#, "no Bearer"),
            (
                r#"Bearer realm="ftp://auth.example.com/token""#,
                "unsupported scheme",
            ),
            (
                r#"Bearer realm="https://u:p@auth.example.com/token""#,
                "user info",
            ),
        ] {
            let e = from_challenges(&[h.to_string()], false).unwrap_err();
            assert!(e.contains(why), "{h}: {e}");
        }
        assert!(from_challenges(&[], false)
            .unwrap_err()
            .contains("no WWW-Authenticate"));
        // `insecure` allows an http realm on another host.
        let h = vec![r#"Bearer realm="http://auth.lan/token""#.to_string()];
        assert_eq!(from_challenges(&h, true).unwrap().base, "http://auth.lan");
    }

    #[test]
    fn explicit_configuration_wins() {
        let c = Config::parse(
            r#"{"registries": {"Registry.Example.com:5000": {"url": "https://auth.example.com/", "service": "reg"},
                               "lan:5000": {"insecure": true}}}"#,
        )
        .unwrap();
        assert_eq!(
            c.explicit(&host("registry.example.com:5000")).unwrap(),
            Some(Tollgate {
                base: "https://auth.example.com".into(),
                service: Some("reg".into())
            })
        );
        assert_eq!(c.explicit(&host("lan:5000")).unwrap(), None);
        assert!(c.insecure(&host("lan:5000")));
        assert!(!c.insecure(&host("other:5000")));
        assert!(c.insecure(&host("127.0.0.1:5000")));
        let mut env = c.clone();
        env.env_url = Some("http://127.0.0.1:8787".into());
        assert_eq!(
            env.explicit(&host("other")).unwrap().unwrap().base,
            "http://127.0.0.1:8787"
        );
        env.env_url = Some("http://auth.example.com".into());
        assert!(env.explicit(&host("other")).is_err());
        // Unknown fields, bad hosts and bad URLs are refused, not ignored.
        assert!(Config::parse(r#"{"registries": {"h": {"uri": "x"}}}"#).is_err());
        assert!(Config::parse(r#"{"registries": {"a b": {}}}"#).is_err());
        assert!(
            Config::parse(r#"{"registries": {"h": {"url": "http://auth.example.com"}}}"#).is_err()
        );
    }

    #[test]
    fn probe_and_origin() {
        assert_eq!(
            probe_url(&host("r.example"), false),
            "https://r.example/v2/"
        );
        assert_eq!(
            probe_url(&host("127.0.0.1:5000"), true),
            "http://127.0.0.1:5000/v2/"
        );
        assert!(same_origin(
            "http://127.0.0.1:8787",
            "http://127.0.0.1:8787/device?user_code=BCDF-GHJK"
        ));
        assert!(!same_origin(
            "https://auth.example.com",
            "https://auth.example.com.evil/device"
        ));
        assert!(!same_origin(
            "https://auth.example.com",
            "http://auth.example.com/device"
        ));
        assert!(!same_origin(
            "https://auth.example.com",
            "https://x@auth.example.com/device"
        ));
        assert!(!same_origin(
            "https://auth.example.com",
            "javascript:alert(1)"
        ));
    }
}
