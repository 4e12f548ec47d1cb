//! Reading Tollgate's log lines back (issue 16): the token audit lines (`"event":"token"`) and the
//! pull ledger (`"event":"proxy"`), from a file or stdin, in any of the shapes they are kept in:
//! - one JSON object per line (Logpush, `grep` of a log), possibly after a prefix (wrangler dev's
//!   log file prints console output after a timestamp or `[wrangler:info]`);
//! - `wrangler tail --format json`: a stream of (pretty-printed) tail events whose
//!   `logs[].message[]` hold the lines as strings.
//!
//! Anything else is skipped and counted, so a mixed log file is fine.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::Value;
use tollgate_core::ledger::LedgerLine;

/// Input read at most (a log larger than this should be filtered first, e.g. by time).
const MAX_INPUT: u64 = 1 << 30;

/// A token audit line as `tollgate_core::token_service::AuditEvent` writes it (unknown fields ignored).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct TokenLine {
    pub time: u64,
    pub outcome: String,
    pub status: u16,
    pub grant: String,
    pub account: Option<String>,
    pub credential: Option<String>,
    pub credential_name: Option<String>,
    pub issuer: Option<String>,
    pub service: Option<String>,
    pub requested: Vec<String>,
    pub granted: Vec<String>,
    pub jti: Option<String>,
    pub reason: Option<String>,
    pub client_ip: Option<String>,
}

/// One recognised line.
#[derive(Debug, Clone)]
pub(crate) enum Line {
    Token(TokenLine),
    Proxy(LedgerLine),
}

/// Every recognised line of the input, in order, and how many JSON values were not ours.
#[derive(Debug, Default)]
pub(crate) struct Log {
    pub lines: Vec<Line>,
    pub skipped: usize,
}

impl Log {
    pub(crate) fn tokens(&self) -> impl Iterator<Item = &TokenLine> {
        self.lines.iter().filter_map(|l| match l {
            Line::Token(t) => Some(t),
            Line::Proxy(_) => None,
        })
    }

    /// Each issued token's line by its `jti`: how the token a proxied request carried was
    /// obtained (`tollgate audit`) and whose it was (`tollgate policy replay`).
    pub(crate) fn issued_by_jti(&self) -> HashMap<&str, &TokenLine> {
        self.tokens()
            .filter(|t| t.outcome == "issued")
            .filter_map(|t| t.jti.as_deref().map(|j| (j, t)))
            .collect()
    }

    pub(crate) fn proxied(&self) -> impl Iterator<Item = &LedgerLine> {
        self.lines.iter().filter_map(|l| match l {
            Line::Proxy(p) => Some(p),
            Line::Token(_) => None,
        })
    }
}

/// Reads `path`, or stdin for `-`.
pub(crate) fn read(path: &Path) -> Result<Log> {
    let mut text = String::new();
    if path.as_os_str() == "-" {
        std::io::stdin()
            .take(MAX_INPUT)
            .read_to_string(&mut text)
            .context("cannot read the log from stdin")?;
    } else {
        std::fs::File::open(path)
            .with_context(|| format!("{}: cannot open the log", path.display()))?
            .take(MAX_INPUT)
            .read_to_string(&mut text)
            .with_context(|| {
                format!(
                    "{}: cannot read the log (UTF-8 text expected)",
                    path.display()
                )
            })?;
    }
    Ok(parse(&text))
}

/// Parses log text in any of the shapes above.
pub(crate) fn parse(text: &str) -> Log {
    let mut log = Log::default();
    for v in values(text) {
        collect(v, &mut log, 0);
    }
    log
}

/// The JSON values of the text: a clean stream of values (wrangler tail), else per line after any
/// prefix.
fn values(text: &str) -> Vec<Value> {
    let stream: Result<Vec<Value>, _> = serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .collect();
    if let Ok(v) = stream {
        return v;
    }
    text.lines()
        .filter_map(|l| l.find('{').and_then(|i| serde_json::from_str(&l[i..]).ok()))
        .collect()
}

fn collect(v: Value, log: &mut Log, depth: u8) {
    if let Some(logs) = v.get("logs").and_then(Value::as_array) {
        // A wrangler tail event: each console.log call's arguments are in `message`.
        for entry in logs {
            for m in entry["message"].as_array().into_iter().flatten() {
                match m {
                    Value::String(s) if depth == 0 => match serde_json::from_str::<Value>(s) {
                        Ok(inner) => collect(inner, log, depth + 1),
                        Err(_) => log.skipped += 1,
                    },
                    Value::Object(_) if depth == 0 => collect(m.clone(), log, depth + 1),
                    _ => log.skipped += 1,
                }
            }
        }
        return;
    }
    let line = match v.get("event").and_then(Value::as_str) {
        Some("token") => serde_json::from_value(v).ok().map(Line::Token),
        Some("proxy") => serde_json::from_value(v).ok().map(Line::Proxy),
        _ => None,
    };
    match line {
        Some(l) => log.lines.push(l),
        None => log.skipped += 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = r#"{"event":"token","outcome":"issued","status":200,"time":10,"grant":"header","account":"bob","credential":"api_key","credential_name":"ci","service":"registry.local","client_id":null,"requested":["repository:org/a:pull"],"granted":["repository:org/a:pull"],"jti":"j1","refresh_token_issued":false,"reason":null,"client_ip":"127.0.0.1","user_agent":"skopeo"}"#;
    const PROXY: &str = r#"{"event":"proxy","time":11,"outcome":"forwarded","status":200,"method":"GET","path":"/v2/org/a/manifests/v1","principal":"bob","credential":"token","jti":"j1","repository":"org/a","reference":"v1","bytes":528,"cache":"bypass"}"#;

    #[test]
    fn plain_lines_with_prefixes_and_noise() {
        let text = format!("[wrangler:info] Ready\n{TOKEN}\n2026-12-05T10:00:00Z {PROXY}\nnot json\n{{\"event\":\"other\"}}\n");
        let log = parse(&text);
        assert_eq!(log.lines.len(), 2);
        assert_eq!(
            log.tokens().next().unwrap().credential_name.as_deref(),
            Some("ci")
        );
        assert_eq!(log.proxied().next().unwrap().bytes, Some(528));
        assert_eq!(log.skipped, 1);
    }

    #[test]
    fn wrangler_tail_json_events() {
        let ev = serde_json::json!({
            "outcome": "ok", "scriptName": "tollgate", "eventTimestamp": 1,
            "logs": [
                {"message": [TOKEN], "level": "log", "timestamp": 1},
                {"message": [PROXY], "level": "log", "timestamp": 2},
                {"message": ["origin fetch failed"], "level": "error", "timestamp": 3}
            ]
        });
        // Pretty-printed and back to back, as `wrangler tail --format json` writes them.
        let text = format!("{}\n{}", serde_json::to_string_pretty(&ev).unwrap(), ev);
        let log = parse(&text);
        assert_eq!(log.tokens().count(), 2);
        assert_eq!(log.proxied().count(), 2);
        assert_eq!(log.skipped, 2);
    }
}
