//! Docker's credential-helper protocol (docker/docker-credential-helpers), without I/O.
//!
//! The client runs `docker-credential-<name> <action>` with a payload on stdin:
//! - `get`: stdin is a server URL; stdout `{"ServerURL","Username","Secret"}`.
//! - `store`: stdin `{"ServerURL","Username","Secret"}`; we refuse (we mint our own).
//! - `erase`: stdin is a server URL; stdout empty.
//! - `list`: stdout a JSON object server URL -> username.
//! - `version`: stdout one line.
//!
//! On failure the helper writes the message to stdout and exits 1; the client shows it (and treats
//! exactly `credentials not found in native keychain` as "no credentials").

use serde::Serialize;
use std::collections::BTreeMap;

use crate::error::Error;

/// The largest stdin payload accepted (a server URL or a `store` JSON document).
pub const MAX_INPUT: usize = 64 * 1024;

/// One action of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Get,
    Store,
    Erase,
    List,
    Version,
}

impl Action {
    pub fn parse(arg: &str) -> Result<Action, Error> {
        match arg {
            "get" => Ok(Action::Get),
            "store" => Ok(Action::Store),
            "erase" => Ok(Action::Erase),
            "list" => Ok(Action::List),
            "version" | "--version" => Ok(Action::Version),
            other => Err(Error::BadInput {
                reason: format!(
                    "unknown action {:?}: usage: docker-credential-tollgate get|store|erase|list|version",
                    crate::error::printable(other, 40)
                ),
            }),
        }
    }
}

/// The answer to `get`.
#[derive(Serialize)]
pub struct Credentials<'a> {
    #[serde(rename = "ServerURL")]
    pub server_url: &'a str,
    #[serde(rename = "Username")]
    pub username: &'a str,
    #[serde(rename = "Secret")]
    pub secret: &'a str,
}

/// The answer to `list`: registry host -> username.
pub fn list_json(entries: &BTreeMap<String, String>) -> String {
    serde_json::to_string(entries).unwrap_or_else(|_| "{}".into())
}

/// A registry host as clients name it in `credHelpers` and on stdin: `host`, `host:port` or
/// `[v6]:port`, lower case. This is also the cache key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RegistryHost(String);

impl RegistryHost {
    /// Reads what a client passes: a bare host (`registry.example.com`, `127.0.0.1:5000`, what docker
    /// and containers/image send) or a URL (`https://registry.example.com/v1/`, what `docker login`
    /// may send). Only the authority is kept; anything that is not a registry host is refused.
    pub fn parse(input: &str) -> Result<RegistryHost, Error> {
        let trimmed = input.trim();
        let bad = |why: &str| Error::BadInput {
            reason: format!(
                "{:?} is not a registry host ({why})",
                crate::error::printable(trimmed, 80)
            ),
        };
        let rest = trimmed
            .strip_prefix("https://")
            .or_else(|| trimmed.strip_prefix("http://"))
            .unwrap_or(trimmed);
        let authority = rest.split('/').next().unwrap_or_default();
        if authority.is_empty() {
            return Err(bad("empty"));
        }
        if authority.len() > 255 {
            return Err(bad("too long"));
        }
        // Let the URL parser judge the host and port (IDNA, IPv4/IPv6 literals, port range), then
        // insist it kept exactly what we gave it: no user info, no path, nothing normalised away.
        let url =
            url::Url::parse(&format!("https://{authority}/")).map_err(|_| bad("unparsable"))?;
        let host = url.host_str().ok_or_else(|| bad("no host"))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("user info"));
        }
        // Docker's reference grammar for a domain: dot-separated labels of letters, digits and
        // inner hyphens (or an IP literal, which the URL parser has already checked).
        let is_ip = host.starts_with('[') || host.parse::<std::net::Ipv4Addr>().is_ok();
        let label_ok = |l: &str| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        if !is_ip && !host.split('.').all(label_ok) {
            return Err(bad("not a domain name"));
        }
        let canonical = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        if canonical != authority.to_ascii_lowercase() || authority.ends_with(':') {
            return Err(bad("not in canonical host[:port] form"));
        }
        Ok(RegistryHost(canonical))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The host without the port (brackets kept for IPv6).
    pub fn hostname(&self) -> &str {
        let h = &self.0;
        match h.strip_prefix('[') {
            Some(v6) => v6.find(']').map_or(h.as_str(), |end| &h[..end + 2]),
            None => h.split(':').next().unwrap_or(h),
        }
    }

    /// Loopback registries may be spoken to over plain HTTP (as docker does for 127.0.0.0/8).
    pub fn is_loopback(&self) -> bool {
        is_loopback_host(self.hostname())
    }

    /// A file name for this host's cache entry: `:` (invalid on some file systems) becomes `_`,
    /// which a host never contains, so the mapping is one to one.
    pub fn file_stem(&self) -> String {
        self.0.replace(':', "_")
    }
}

impl std::fmt::Display for RegistryHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `localhost`, 127.0.0.0/8 or `[::1]`.
pub fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions() {
        assert_eq!(Action::parse("get").unwrap(), Action::Get);
        assert_eq!(Action::parse("version").unwrap(), Action::Version);
        let e = Action::parse("steal\x1b]").unwrap_err().to_string();
        assert!(e.contains("unknown action") && !e.contains('\x1b'), "{e}");
    }

    #[test]
    fn hosts_as_clients_send_them() {
        for (input, want) in [
            ("registry.example.com", "registry.example.com"),
            ("Registry.Example.com\n", "registry.example.com"),
            ("127.0.0.1:5000", "127.0.0.1:5000"),
            ("https://registry.example.com/v1/", "registry.example.com"),
            ("http://localhost:5000", "localhost:5000"),
            ("[::1]:5000", "[::1]:5000"),
        ] {
            assert_eq!(
                RegistryHost::parse(input).unwrap().as_str(),
                want,
                "{input}"
            );
        }
        for bad in [
            "",
            "https://",
            "user:pw@registry.example.com",
            "registry.example.com:",
            "registry.example.com:99999",
            "reg istry",
            "registry.example.com:443:1",
            "a\u{0}b",
            "../../etc",
            "registry.example.com:0443",
        ] {
            assert!(RegistryHost::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(RegistryHost::parse(&"a".repeat(300)).is_err());
    }

    #[test]
    fn loopback_and_file_names() {
        assert!(RegistryHost::parse("127.0.0.1:5000").unwrap().is_loopback());
        assert!(RegistryHost::parse("localhost").unwrap().is_loopback());
        assert!(RegistryHost::parse("[::1]:5000").unwrap().is_loopback());
        assert!(!RegistryHost::parse("registry.example.com:5000")
            .unwrap()
            .is_loopback());
        assert!(!RegistryHost::parse("127.example.com")
            .unwrap()
            .is_loopback());
        assert_eq!(
            RegistryHost::parse("127.0.0.1:5000").unwrap().file_stem(),
            "127.0.0.1_5000"
        );
        assert_eq!(
            RegistryHost::parse("[::1]:5000").unwrap().hostname(),
            "[::1]"
        );
        assert_eq!(RegistryHost::parse("[::1]").unwrap().hostname(), "[::1]");
        assert_eq!(
            RegistryHost::parse("r.example:5000").unwrap().hostname(),
            "r.example"
        );
    }

    #[test]
    fn get_answer_shape() {
        let c = Credentials {
            server_url: "127.0.0.1:5000",
            username: "sso-alice",
            secret: "tgp_x",
        };
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"ServerURL":"127.0.0.1:5000","Username":"sso-alice","Secret":"tgp_x"}"#
        );
        let mut m = BTreeMap::new();
        m.insert("127.0.0.1:5000".to_string(), "sso-alice".to_string());
        assert_eq!(list_json(&m), r#"{"127.0.0.1:5000":"sso-alice"}"#);
    }
}
