//! `tollgate audit`: questions answered from the token audit lines and the pull ledger (issue 16).
//!
//! - `pulls --repo R [--ref TAG|DIGEST]`: who pulled a repository or one digest, from where;
//! - `credential --account A [--key NAME]`: everything one credential did (its token requests, and
//!   every proxied request made with the tokens it got, joined by `jti`, or with it as Basic);
//! - `top [--limit N]`: the most pulled repositories and the busiest accounts;
//! - `refusals`: refusals by reason.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

use anyhow::Result;
use tollgate_core::ledger::LedgerLine;

use crate::logread::{Log, TokenLine};

/// `time` as UTC RFC 3339 (seconds).
pub(crate) fn when(t: u64) -> String {
    i64::try_from(t)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map_or_else(
            || t.to_string(),
            |d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        )
}

fn or_dash(v: Option<&str>) -> &str {
    match v {
        Some(s) if !s.is_empty() => s,
        _ => "-",
    }
}

/// A table: a header row and rows, columns padded to their widest cell (the last one not).
struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(header: &[&str]) -> Self {
        Table {
            rows: vec![header.iter().map(|s| s.to_string()).collect()],
        }
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn render(&self, out: &mut String) {
        let cols = self.rows[0].len();
        let widths: Vec<usize> = (0..cols)
            .map(|c| {
                self.rows
                    .iter()
                    .map(|r| r[c].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for r in &self.rows {
            let mut line = String::new();
            for (c, cell) in r.iter().enumerate() {
                if c + 1 == cols {
                    line.push_str(cell);
                } else {
                    let _ = write!(line, "{cell:<w$}  ", w = widths[c]);
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        if self.rows.len() == 1 {
            out.push_str("(no matching lines)\n");
        }
    }
}

/// "api_key ci", "password", "basic", ... for a ledger line.
fn credential_of(line: &LedgerLine, tokens: &HashMap<&str, &TokenLine>) -> String {
    match line.jti.as_deref().and_then(|j| tokens.get(j)) {
        Some(t) => match (&t.credential, &t.credential_name) {
            (Some(c), Some(n)) => format!("token<-{c}:{n}"),
            (Some(c), None) => format!("token<-{c}"),
            _ => "token".into(),
        },
        None => or_dash(line.credential.as_deref()).to_string(),
    }
}

/// A download: GET (a HEAD only checks that something exists, e.g. before a push uploads it).
fn is_pull(line: &LedgerLine) -> bool {
    line.method == "GET"
}

/// Who pulled `repo` (and `reference`: a tag or digest).
pub(crate) fn pulls(log: &Log, repo: &str, reference: Option<&str>) -> String {
    let tokens = log.issued_by_jti();
    let mut t = Table::new(&[
        "TIME",
        "ACCOUNT",
        "CREDENTIAL",
        "METHOD",
        "REFERENCE",
        "STATUS",
        "BYTES",
        "CACHE",
        "CLIENT",
        "COUNTRY",
        "ASN",
        "COLO",
    ]);
    for l in log.proxied().filter(|l| {
        is_pull(l)
            && l.outcome == "forwarded"
            && l.repository.as_deref() == Some(repo)
            && reference.is_none_or(|r| l.reference.as_deref() == Some(r))
    }) {
        t.row(vec![
            when(l.time),
            or_dash(l.principal.as_deref()).into(),
            credential_of(l, &tokens),
            l.method.clone(),
            or_dash(l.reference.as_deref()).into(),
            l.status.to_string(),
            l.bytes.map_or("-".into(), |b| b.to_string()),
            or_dash(l.cache.as_deref()).into(),
            or_dash(l.client_ip.as_deref()).into(),
            or_dash(l.country.as_deref()).into(),
            l.asn.map_or("-".into(), |a| a.to_string()),
            or_dash(l.colo.as_deref()).into(),
        ]);
    }
    let mut out = String::new();
    t.render(&mut out);
    out
}

/// Everything one credential did: account `account`, and with `key` only that API key.
pub(crate) fn credential(log: &Log, account: &str, key: Option<&str>) -> String {
    let mine = |t: &TokenLine| {
        t.account.as_deref() == Some(account)
            && key.is_none_or(|k| t.credential_name.as_deref() == Some(k))
    };
    let jtis: HashSet<&str> = log
        .tokens()
        .filter(|t| mine(t))
        .filter_map(|t| t.jti.as_deref())
        .collect();
    let mut t = Table::new(&[
        "TIME", "EVENT", "OUTCOME", "STATUS", "WHAT", "CLIENT", "DETAIL",
    ]);
    for line in &log.lines {
        match line {
            crate::logread::Line::Token(tok) if mine(tok) => {
                let what = if tok.granted.is_empty() {
                    format!("asked {}", tok.requested.join(" "))
                } else {
                    format!("granted {}", tok.granted.join(" "))
                };
                let via = match (&tok.credential, &tok.credential_name) {
                    (Some(c), Some(n)) => format!("{c}:{n}"),
                    (Some(c), None) => c.clone(),
                    _ => "-".into(),
                };
                t.row(vec![
                    when(tok.time),
                    "token".into(),
                    tok.outcome.clone(),
                    tok.status.to_string(),
                    what.trim_end().into(),
                    or_dash(tok.client_ip.as_deref()).into(),
                    format!(
                        "via {via}{}",
                        tok.reason
                            .as_deref()
                            .map(|r| format!("; {r}"))
                            .unwrap_or_default()
                    ),
                ]);
            }
            crate::logread::Line::Proxy(p)
                if p.jti.as_deref().is_some_and(|j| jtis.contains(j))
                    || (key.is_none()
                        && p.credential.as_deref() == Some("basic")
                        && p.principal.as_deref() == Some(account)) =>
            {
                t.row(vec![
                    when(p.time),
                    "proxy".into(),
                    p.outcome.clone(),
                    p.status.to_string(),
                    format!("{} {}", p.method, p.path),
                    or_dash(p.client_ip.as_deref()).into(),
                    p.reason.clone().unwrap_or_else(|| {
                        format!(
                            "{}; {}",
                            or_dash(p.credential.as_deref()),
                            or_dash(p.country.as_deref())
                        )
                    }),
                ]);
            }
            _ => {}
        }
    }
    let mut out = String::new();
    t.render(&mut out);
    out
}

/// The most pulled repositories and the busiest accounts.
pub(crate) fn top(log: &Log, limit: usize) -> String {
    let mut repos: HashMap<&str, (u64, u64, HashSet<&str>)> = HashMap::new();
    let mut accounts: HashMap<&str, (u64, u64)> = HashMap::new();
    for l in log.proxied().filter(|l| l.outcome == "forwarded") {
        let who = l.principal.as_deref().unwrap_or("");
        let a = accounts.entry(who).or_default();
        a.0 += 1;
        a.1 += l.bytes.unwrap_or(0);
        if let (true, Some(r)) = (is_pull(l), l.repository.as_deref()) {
            let e = repos.entry(r).or_default();
            e.0 += 1;
            e.1 += l.bytes.unwrap_or(0);
            e.2.insert(who);
        }
    }
    for tok in log.tokens().filter(|t| t.outcome == "issued") {
        accounts
            .entry(tok.account.as_deref().unwrap_or(""))
            .or_default();
    }
    let mut out = String::from("top repositories (GET forwarded)\n");
    let mut r: Vec<_> = repos.into_iter().collect();
    r.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(b.0)));
    let mut t = Table::new(&["REPOSITORY", "REQUESTS", "BYTES", "ACCOUNTS"]);
    for (name, (n, bytes, who)) in r.into_iter().take(limit) {
        t.row(vec![
            name.into(),
            n.to_string(),
            bytes.to_string(),
            who.len().to_string(),
        ]);
    }
    t.render(&mut out);
    let tokens_by: BTreeMap<&str, usize> =
        log.tokens()
            .filter(|t| t.outcome == "issued")
            .fold(BTreeMap::new(), |mut m, t| {
                *m.entry(t.account.as_deref().unwrap_or("")).or_default() += 1;
                m
            });
    out.push_str("\ntop accounts\n");
    let mut a: Vec<_> = accounts.into_iter().collect();
    a.sort_by(|x, y| y.1 .0.cmp(&x.1 .0).then(x.0.cmp(y.0)));
    let mut t = Table::new(&["ACCOUNT", "PROXIED", "BYTES", "TOKENS"]);
    for (name, (n, bytes)) in a.into_iter().take(limit) {
        let shown = if name.is_empty() { "(anonymous)" } else { name };
        t.row(vec![
            shown.into(),
            n.to_string(),
            bytes.to_string(),
            tokens_by.get(name).copied().unwrap_or(0).to_string(),
        ]);
    }
    t.render(&mut out);
    out
}

/// The stable part of a token refusal reason ("denied", "invalid_credentials", ...): messages
/// carry addresses and names, codes group.
fn token_reason(r: &str) -> &str {
    r.split(':').next().unwrap_or(r).trim()
}

/// Refusals by reason, token endpoint and proxy apart, most frequent first.
pub(crate) fn refusals(log: &Log) -> String {
    let mut counts: HashMap<(&str, &str), (u64, HashSet<&str>, String)> = HashMap::new();
    for tok in log.tokens().filter(|t| t.outcome != "issued") {
        let reason = tok.reason.as_deref().map_or("-", token_reason);
        let e = counts.entry(("token", reason)).or_default();
        e.0 += 1;
        e.1.insert(tok.account.as_deref().unwrap_or(""));
        e.2 = tok.reason.clone().unwrap_or_default();
    }
    for p in log.proxied().filter(|p| p.outcome == "refused") {
        let e = counts
            .entry(("proxy", p.reason.as_deref().unwrap_or("-")))
            .or_default();
        e.0 += 1;
        e.1.insert(p.client_ip.as_deref().unwrap_or(""));
        e.2 = format!("{} {}", p.method, p.path);
    }
    let mut rows: Vec<_> = counts.into_iter().collect();
    rows.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(&b.0)));
    let mut t = Table::new(&["WHERE", "REASON", "COUNT", "DISTINCT", "LAST EXAMPLE"]);
    for ((place, reason), (n, distinct, example)) in rows {
        let example: String = example.chars().take(100).collect();
        t.row(vec![
            place.into(),
            reason.into(),
            n.to_string(),
            distinct.len().to_string(),
            example,
        ]);
    }
    let mut out = String::from(
        "(DISTINCT: accounts for token refusals, client addresses for proxy refusals)\n",
    );
    t.render(&mut out);
    out
}

/// A one-line summary of what was read, for stderr.
pub(crate) fn summary(log: &Log) -> String {
    format!(
        "read {} token line(s) and {} ledger line(s); {} other JSON value(s) skipped",
        log.tokens().count(),
        log.proxied().count(),
        log.skipped
    )
}

pub(crate) fn check_limit(limit: usize) -> Result<usize> {
    anyhow::ensure!(limit > 0, "--limit must be at least 1");
    Ok(limit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logread::parse;

    fn log() -> Log {
        let lines = [
            r#"{"event":"token","outcome":"issued","status":200,"time":100,"grant":"header","account":"ci-bot","credential":"api_key","credential_name":"ci","requested":["repository:org/a:pull"],"granted":["repository:org/a:pull"],"jti":"j1","client_ip":"10.0.0.1"}"#,
            r#"{"event":"token","outcome":"issued","status":200,"time":101,"grant":"header","account":"bob","credential":"password","requested":["repository:org/a:pull"],"granted":["repository:org/a:pull"],"jti":"j2","client_ip":"10.0.0.2"}"#,
            r#"{"event":"token","outcome":"refused","status":403,"time":102,"grant":"header","account":"ci-bot","credential":"api_key","credential_name":"ci","requested":[],"granted":[],"reason":"denied: this credential may not be used from 127.0.0.2: it is bound to other client networks","client_ip":"127.0.0.2"}"#,
            r#"{"event":"proxy","time":103,"outcome":"forwarded","status":200,"method":"GET","path":"/v2/org/a/manifests/v1","principal":"ci-bot","credential":"token","jti":"j1","repository":"org/a","reference":"v1","bytes":500,"cache":"bypass","client_ip":"10.0.0.1","country":"DE","asn":64500,"colo":"FRA"}"#,
            r#"{"event":"proxy","time":104,"outcome":"forwarded","status":200,"method":"GET","path":"/v2/org/a/blobs/sha256:aa","principal":"bob","credential":"token","jti":"j2","repository":"org/a","reference":"sha256:aa","bytes":1000,"cache":"miss","client_ip":"10.0.0.2"}"#,
            r#"{"event":"proxy","time":105,"outcome":"refused","reason":"net_network","status":403,"method":"GET","path":"/v2/org/a/manifests/v1","credential":"token","jti":"j1","repository":"org/a","reference":"v1","client_ip":"127.0.0.2"}"#,
            r#"{"event":"proxy","time":106,"outcome":"forwarded","status":200,"method":"GET","path":"/v2/org/b/tags/list","principal":"bob","credential":"basic","repository":"org/b","client_ip":"10.0.0.2"}"#,
        ];
        parse(&lines.join("\n"))
    }

    #[test]
    fn who_pulled_a_repository_and_a_digest() {
        let out = pulls(&log(), "org/a", None);
        assert_eq!(out.lines().count(), 3, "{out}");
        assert!(
            out.contains("token<-api_key:ci") && out.contains("DE") && out.contains("FRA"),
            "{out}"
        );
        let out = pulls(&log(), "org/a", Some("sha256:aa"));
        assert_eq!(out.lines().count(), 2, "{out}");
        assert!(out.lines().nth(1).unwrap().contains("bob"), "{out}");
        assert!(pulls(&log(), "nope", None).contains("no matching lines"));
    }

    #[test]
    fn everything_one_credential_did_including_the_copied_token() {
        let out = credential(&log(), "ci-bot", Some("ci"));
        // Two token lines, the forwarded pull and the refused copy from 127.0.0.2.
        assert_eq!(out.lines().count(), 5, "{out}");
        assert!(
            out.contains("net_network") && out.contains("127.0.0.2"),
            "{out}"
        );
        assert!(!out.contains("bob"), "{out}");
        let bob = credential(&log(), "bob", None);
        assert!(
            bob.contains("/v2/org/b/tags/list"),
            "Basic lines by account: {bob}"
        );
    }

    #[test]
    fn top_and_refusals() {
        let out = top(&log(), 10);
        let repos: Vec<&str> = out.lines().skip(2).take(2).collect();
        assert!(
            repos[0].starts_with("org/a") && repos[0].contains("1500"),
            "{out}"
        );
        assert!(out.contains("ci-bot"), "{out}");
        let out = refusals(&log());
        assert!(
            out.lines()
                .any(|l| l.starts_with("token") && l.contains("denied")),
            "{out}"
        );
        assert!(
            out.lines()
                .any(|l| l.starts_with("proxy") && l.contains("net_network")),
            "{out}"
        );
    }
}
