//! The operator's policy file: users, their API keys and the ordered ACL rules in one reviewed TOML
//! file, which `policy render`/`policy sync` turn into the KV records the worker reads.
//!
//! The file mirrors the KV records (ARCHITECTURE.md) so a reviewer can map one to the other:
//!
//! ```toml
//! [users.alice]
//! password = "$2y$10$..."          # bcrypt; `tollgate user add` writes it
//! groups = ["dev"]
//! labels = { team = ["a"] }
//!
//! [users.ci-bot]                    # no password: API keys only
//! apikeys = [{ name = "ci", digest = "<sha256 hex>", created = 1764316800,
//!              allow_net = ["10.0.0.0/8", "2001:db8::/32"] }]   # optional: network-bound
//!
//! [[rules]]
//! comment = "personal namespaces"
//! match = { name = "${account}/*", anonymous = false }
//! actions = ["pull", "push"]
//!
//! [[issuers]]                       # workload identity federation: the `issuers` record
//! name = "github"
//! issuer = "https://token.actions.githubusercontent.com"
//! audiences = ["https://registry.example"]
//! username = "github-actions"
//! ```

pub(crate) mod render;
pub(crate) mod validate;

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;
use toml::Spanned;

/// A parsed policy file together with its text, so every message can point at FILE:LINE:COLUMN.
pub(crate) struct Loaded {
    pub path: PathBuf,
    pub text: String,
    pub policy: PolicyFile,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PolicyFile {
    /// Accounts by name. A BTreeMap keeps `render` output stable whatever the file's order.
    #[serde(default)]
    pub users: BTreeMap<String, Spanned<User>>,
    /// ACL rules in evaluation order: the first matching rule decides.
    #[serde(default)]
    pub rules: Vec<Spanned<Rule>>,
    /// Trusted OIDC issuers (workload identity federation), synced as the KV `issuers` record.
    /// None in the file: no `issuers` record, federation off.
    #[serde(default)]
    pub issuers: Vec<Spanned<tollgate_core::federation::IssuerConfig>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct User {
    /// bcrypt hash (`$2a$`, `$2b$` or `$2y$`), as htpasswd -B writes. Absent: API keys only.
    pub password: Option<Spanned<String>>,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    pub groups: Vec<Spanned<String>>,
    #[serde(default)]
    pub labels: BTreeMap<String, Vec<Spanned<String>>>,
    #[serde(default)]
    pub apikeys: Vec<Spanned<ApiKey>>,
    /// Unix seconds: refresh tokens of this user created earlier are refused once synced
    /// (`tollgate user revoke-refresh` sets it).
    pub refresh_revoked_before: Option<u64>,
    /// Free text for reviewers; accepted and checked for type, never synced.
    #[allow(dead_code)]
    pub comment: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApiKey {
    pub name: Spanned<String>,
    /// SHA-256 of the key, lower-case hex. The key itself is never stored.
    pub digest: Spanned<String>,
    /// Unix seconds.
    pub created: u64,
    /// Unix seconds; absent: never expires.
    pub expires: Option<Spanned<u64>>,
    /// Client networks (CIDR, IPv4 or IPv6) the key may be used from; empty: anywhere.
    #[serde(default)]
    pub allow_net: Vec<Spanned<String>>,
    /// Countries (ISO 3166-1 alpha-2, as `request.cf.country`) the key may be used from.
    #[serde(default)]
    pub allow_country: Vec<Spanned<String>>,
}

impl ApiKey {
    /// The key's network binding as the worker reads it (`net` of the `apikey:` record); `None`
    /// when unrestricted. Errors name the first bad entry and its span.
    pub(crate) fn binding(
        &self,
    ) -> std::result::Result<Option<tollgate_core::netbind::NetBinding>, (Range<usize>, String)>
    {
        use tollgate_core::netbind::{parse_cidr, parse_country};
        let bad_net = self.allow_net.iter().find_map(|n| {
            parse_cidr(n.get_ref())
                .err()
                .map(|e| (n.span(), e.to_string()))
        });
        let bad_country = self.allow_country.iter().find_map(|c| {
            parse_country(c.get_ref())
                .err()
                .map(|e| (c.span(), e.to_string()))
        });
        if let Some(bad) = bad_net.or(bad_country) {
            return Err(bad);
        }
        let nets: Vec<&str> = self
            .allow_net
            .iter()
            .map(|n| n.get_ref().as_str())
            .collect();
        let countries: Vec<&str> = self
            .allow_country
            .iter()
            .map(|c| c.get_ref().as_str())
            .collect();
        let b = tollgate_core::netbind::NetBinding::parse(&nets, &countries)
            .map_err(|e| (self.name.span(), e.to_string()))?;
        Ok((!b.is_unbound()).then_some(b))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Rule {
    /// Absent: the rule matches every request.
    #[serde(rename = "match")]
    pub matches: Option<Spanned<Match>>,
    pub actions: Spanned<Vec<Spanned<String>>>,
    pub comment: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Match {
    pub account: Option<Spanned<String>>,
    pub group: Option<Spanned<String>>,
    pub anonymous: Option<Spanned<bool>>,
    pub service: Option<Spanned<String>>,
    #[serde(rename = "type")]
    pub resource_type: Option<Spanned<String>>,
    pub name: Option<Spanned<String>>,
    pub labels: Option<BTreeMap<String, Spanned<String>>>,
    /// Glob over a federated workload's issuer name (workload-only rule).
    pub issuer: Option<Spanned<String>>,
    /// Flattened claim name -> glob (workload-only rule).
    pub claims: Option<BTreeMap<String, Spanned<String>>>,
}

impl Loaded {
    /// Reads and parses the file; syntax errors, unknown fields and wrong types come back as
    /// `FILE:LINE:COLUMN: message`.
    pub(crate) fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read the policy file", path.display()))?;
        Self::parse(path, text)
    }

    pub(crate) fn parse(path: &Path, text: String) -> Result<Self> {
        match toml::from_str::<PolicyFile>(&text) {
            Ok(policy) => Ok(Self {
                path: path.to_path_buf(),
                text,
                policy,
            }),
            Err(e) => {
                let at = match e.span() {
                    Some(span) => location(path, &text, span),
                    None => path.display().to_string(),
                };
                anyhow::bail!("{at}: {}", e.message().trim_end())
            }
        }
    }

    /// `FILE:LINE:COLUMN` of a byte span in the file.
    pub(crate) fn at(&self, span: Range<usize>) -> String {
        location(&self.path, &self.text, span)
    }
}

/// `FILE:LINE:COLUMN` (1-based) of the start of `span` in `text`.
pub(crate) fn location(path: &Path, text: &str, span: Range<usize>) -> String {
    let start = span.start.min(text.len());
    let before = text.get(..start).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("{}:{line}:{column}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Loaded> {
        Loaded::parse(Path::new("p.toml"), text.to_owned())
    }

    /// The error `text` is refused with.
    fn parse_err(text: &str) -> String {
        parse(text).err().expect("refused").to_string()
    }

    #[test]
    fn unknown_fields_name_the_line() {
        let err = parse_err("[users.alice]\npasword = \"x\"\n");
        assert!(err.starts_with("p.toml:2:1: "), "{err}");
        assert!(err.contains("pasword"), "{err}");
        let err = parse_err("[[rules]]\nactions = []\nmatch = { acount = \"a\" }\n");
        assert!(err.starts_with("p.toml:3:"), "{err}");
        assert!(err.contains("acount"), "{err}");
    }

    #[test]
    fn wrong_types_name_the_line() {
        let err = parse_err("\n[[rules]]\nactions = \"pull\"\n");
        assert!(err.starts_with("p.toml:3:11: "), "{err}");
    }

    #[test]
    fn spans_point_at_values() {
        let loaded = parse("[users.bob]\ngroups = [\"dev\"]\n").unwrap();
        let bob = &loaded.policy.users["bob"];
        assert_eq!(loaded.at(bob.get_ref().groups[0].span()), "p.toml:2:11");
    }

    #[test]
    fn location_counts_lines_and_columns() {
        assert_eq!(location(Path::new("f"), "ab\ncd", 4..5), "f:2:2");
        assert_eq!(location(Path::new("f"), "", 10..11), "f:1:1");
    }
}
