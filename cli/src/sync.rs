//! `policy sync`: bring the worker's KV namespace in line with a policy file through wrangler,
//! showing the difference first.
//!
//! Only the records a policy file owns are compared and written: `user:*`, `apikey:*`, `acl` and
//! `issuers` (a file without `[[issuers]]` deletes that record: the file is the source of trust).
//! Everything else in the namespace (refresh tokens, caches) is left alone.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

use crate::policy_file::render::KvEntry;

/// Key prefixes a policy file owns. `refresh:` and anything else is never touched.
const OWNED: [&str; 2] = ["user:", "apikey:"];

pub(crate) fn owned(key: &str) -> bool {
    key == "acl" || key == "issuers" || OWNED.iter().any(|p| key.starts_with(p))
}

/// Where the namespace lives and how to reach it.
pub(crate) struct Target {
    pub remote: bool,
    pub env: Option<String>,
    pub binding: String,
    pub persist_to: Option<PathBuf>,
    /// The wrangler command line, e.g. `npx wrangler` or `node_modules/.bin/wrangler`.
    pub wrangler: Vec<String>,
}

impl Target {
    fn describe(&self) -> String {
        let mut s = format!(
            "KV binding {} ({}",
            self.binding,
            if self.remote { "remote" } else { "local" }
        );
        if let Some(e) = &self.env {
            let _ = write!(s, ", env {e}");
        }
        if let Some(p) = &self.persist_to {
            let _ = write!(s, ", persisted in {}", p.display());
        }
        s.push(')');
        s
    }

    /// `wrangler kv <args> --binding B --local|--remote [--env E] [--persist-to D]`, stdout captured.
    pub(crate) fn wrangler(&self, args: &[&str]) -> Result<String> {
        let (program, pre) = self
            .wrangler
            .split_first()
            .ok_or_else(|| anyhow!("--wrangler is empty: give a command such as 'npx wrangler'"))?;
        let mut cmd = Command::new(program);
        cmd.args(pre)
            .arg("kv")
            .args(args)
            .arg("--binding")
            .arg(&self.binding);
        cmd.arg(if self.remote { "--remote" } else { "--local" });
        if let Some(e) = &self.env {
            cmd.arg("--env").arg(e);
        }
        if let Some(p) = &self.persist_to {
            cmd.arg("--persist-to").arg(p);
        }
        cmd.env("WRANGLER_HIDE_BANNER", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let shown = format!("{} kv {}", self.wrangler.join(" "), args.join(" "));
        let mut attempt = 0;
        let out = loop {
            let out = cmd.output().with_context(|| {
                format!("running `{shown}` failed; install wrangler (npm ci) or point --wrangler / TOLLGATE_WRANGLER at it")
            })?;
            // Local KV is a SQLite file that the previous wrangler's workerd may still be
            // releasing ("database is locked: SQLITE_BUSY", seen on a loaded machine). Every
            // call here is idempotent (get, list, put of the same value, delete), so try again.
            let busy = !self.remote
                && !out.status.success()
                && String::from_utf8_lossy(&out.stderr).contains("SQLITE_BUSY");
            if !busy || attempt == 3 {
                break out;
            }
            attempt += 1;
            std::thread::sleep(std::time::Duration::from_millis(500 * attempt));
        };
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let tail: Vec<&str> = stderr
                .lines()
                .rev()
                .take(8)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            bail!("`{shown}` failed ({}):\n{}", out.status, tail.join("\n"));
        }
        String::from_utf8(out.stdout).map_err(|_| anyhow!("`{shown}` printed non-UTF-8 output"))
    }
}

/// The owned records currently in the namespace.
fn current(target: &Target) -> Result<BTreeMap<String, String>> {
    let listing = target.wrangler(&["key", "list"])?;
    let names: Vec<Value> = serde_json::from_str(listing.trim()).map_err(|e| {
        anyhow!("`wrangler kv key list` did not print a JSON array ({e}); is the binding right?")
    })?;
    let keys: Vec<String> = names
        .iter()
        .filter_map(|n| n.get("name").and_then(Value::as_str))
        .filter(|k| owned(k))
        .map(str::to_owned)
        .collect();
    // One wrangler process per key; a few at a time so a large namespace does not take minutes.
    let mut values = BTreeMap::new();
    for chunk in keys.chunks(4) {
        let results: Vec<Result<(String, String)>> = std::thread::scope(|s| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|k| {
                    s.spawn(move || {
                        target
                            .wrangler(&["key", "get", k, "--text"])
                            .map(|v| (k.clone(), v))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(anyhow!("a wrangler reader thread failed")))
                })
                .collect()
        });
        for r in results {
            let (k, v) = r?;
            values.insert(k, v);
        }
    }
    Ok(values)
}

/// One difference between the file and the namespace.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Change {
    Add(String),
    Update(String),
    Delete(String),
}

/// A value for display: JSON with bcrypt hashes replaced, so a diff never shows them.
fn masked(value: &Value) -> Value {
    let mut v = value.clone();
    if let Some(pw) = v.get_mut("password") {
        *pw = Value::String("<bcrypt hash>".to_owned());
    }
    v
}

fn parse_or_string(s: &str) -> Value {
    serde_json::from_str(s.trim()).unwrap_or_else(|_| Value::String(s.to_owned()))
}

/// Field-by-field description of how `old` became `new`.
fn describe_update(old: &Value, new: &Value) -> Vec<String> {
    let mut lines = Vec::new();
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            let keys: std::collections::BTreeSet<&String> = o.keys().chain(n.keys()).collect();
            for k in keys {
                let (a, b) = (o.get(k), n.get(k));
                if a == b {
                    continue;
                }
                if k == "password" {
                    lines.push(match (a, b) {
                        (None, Some(_)) => "password: set".to_owned(),
                        (Some(_), None) => "password: removed".to_owned(),
                        _ => "password: changed".to_owned(),
                    });
                    continue;
                }
                let show = |v: Option<&Value>| v.map_or("(absent)".to_owned(), |v| v.to_string());
                lines.push(format!("{k}: {} -> {}", show(a), show(b)));
            }
        }
        (Value::Array(o), Value::Array(n)) => {
            for i in 0..o.len().max(n.len()) {
                match (o.get(i), n.get(i)) {
                    (Some(a), Some(b)) if a == b => {}
                    (Some(a), Some(b)) => lines.push(format!("[{i}]: {a} -> {b}")),
                    (None, Some(b)) => lines.push(format!("[{i}]: added {b}")),
                    (Some(a), None) => lines.push(format!("[{i}]: removed {a}")),
                    (None, None) => {}
                }
            }
        }
        _ => lines.push(format!("{} -> {}", masked(old), masked(new))),
    }
    lines
}

/// Compares desired entries with the namespace's owned records; returns the changes and a
/// human-readable diff.
pub(crate) fn diff(
    desired: &[KvEntry],
    current: &BTreeMap<String, String>,
) -> (Vec<Change>, String) {
    let mut changes = Vec::new();
    let mut text = String::new();
    let mut unchanged = 0;
    for e in desired {
        let new = parse_or_string(&e.value);
        match current.get(&e.key) {
            None => {
                let _ = writeln!(text, "+ {}  {}", e.key, masked(&new));
                changes.push(Change::Add(e.key.clone()));
            }
            Some(old) => {
                let old = parse_or_string(old);
                if old == new {
                    unchanged += 1;
                } else {
                    let _ = writeln!(text, "~ {}", e.key);
                    for line in describe_update(&old, &new) {
                        let _ = writeln!(text, "    {line}");
                    }
                    changes.push(Change::Update(e.key.clone()));
                }
            }
        }
    }
    for key in current.keys() {
        if !desired.iter().any(|e| &e.key == key) {
            let _ = writeln!(text, "- {key}");
            changes.push(Change::Delete(key.clone()));
        }
    }
    let count = |f: fn(&Change) -> bool| changes.iter().filter(|c| f(c)).count();
    let _ = writeln!(
        text,
        "{} to add, {} to change, {} to delete, {unchanged} unchanged",
        count(|c| matches!(c, Change::Add(_))),
        count(|c| matches!(c, Change::Update(_))),
        count(|c| matches!(c, Change::Delete(_)))
    );
    (changes, text)
}

/// A private temporary JSON file for wrangler's bulk commands, removed on drop.
struct TempJson(PathBuf);

impl TempJson {
    fn new(value: &impl serde::Serialize) -> Result<Self> {
        let mut rnd = [0u8; 8];
        getrandom::rand_core::Rng::fill_bytes(
            &mut getrandom::rand_core::UnwrapErr(getrandom::SysRng),
            &mut rnd,
        );
        let path = std::env::temp_dir().join(format!(
            "tollgate-sync-{}.json",
            data_encoding::HEXLOWER.encode(&rnd)
        ));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        f.write_all(serde_json::to_string(value)?.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(Self(path))
    }
}

impl Drop for TempJson {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

pub(crate) struct SyncOptions {
    pub dry_run: bool,
    pub yes: bool,
}

/// Shows the diff (on stdout) and applies it unless `dry_run`. Remote changes need a `y` on the
/// terminal or `--yes`.
pub(crate) fn sync(
    desired: &[KvEntry],
    target: &Target,
    opts: &SyncOptions,
    out: &mut dyn FnMut(&str) -> Result<()>,
) -> Result<()> {
    out(&format!("comparing with {} ...\n", target.describe()))?;
    let now = current(target)?;
    let (changes, text) = diff(desired, &now);
    out(&text)?;
    if changes.is_empty() {
        out("already in sync; nothing written\n")?;
        return Ok(());
    }
    if opts.dry_run {
        out("dry run: nothing written\n")?;
        return Ok(());
    }
    if target.remote && !opts.yes {
        if !std::io::stdin().is_terminal() {
            bail!("refusing to change remote KV without confirmation: rerun with --yes (or --dry-run to only look)");
        }
        eprint!("apply these changes to {}? [y/N] ", target.describe());
        let mut answer = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .context("reading the answer")?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            bail!("not confirmed; nothing written");
        }
    }
    let to_put: Vec<&KvEntry> = desired
        .iter()
        .filter(|e| {
            changes
                .iter()
                .any(|c| matches!(c, Change::Add(k) | Change::Update(k) if k == &e.key))
        })
        .collect();
    if !to_put.is_empty() {
        let file = TempJson::new(&to_put)?;
        target.wrangler(&["bulk", "put", path_str(&file.0)?])?;
    }
    let to_delete: Vec<&str> = changes
        .iter()
        .filter_map(|c| match c {
            Change::Delete(k) => Some(k.as_str()),
            _ => None,
        })
        .collect();
    if !to_delete.is_empty() {
        let file = TempJson::new(&to_delete)?;
        target.wrangler(&["bulk", "delete", path_str(&file.0)?, "--force"])?;
    }
    out(&format!(
        "wrote {} record(s), deleted {}\n",
        to_put.len(),
        to_delete.len()
    ))?;
    Ok(())
}

fn path_str(p: &Path) -> Result<&str> {
    p.to_str()
        .ok_or_else(|| anyhow!("the temporary directory path is not UTF-8: {}", p.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(k: &str, v: &str) -> KvEntry {
        KvEntry {
            key: k.to_owned(),
            value: v.to_owned(),
        }
    }

    #[test]
    fn only_policy_records_are_owned() {
        assert!(owned("acl") && owned("user:a") && owned("apikey:00") && owned("issuers"));
        assert!(!owned("refresh:00") && !owned("aclx") && !owned("other"));
    }

    #[test]
    fn diff_reports_adds_updates_deletes_and_masks_hashes() {
        let desired = [
            entry(
                "user:a",
                r#"{"password":"$2y$10$new","disabled":true,"groups":[]}"#,
            ),
            entry("user:b", r#"{"disabled":false}"#),
            entry("acl", r#"[{"match":{},"actions":["pull"]}]"#),
        ];
        let current: BTreeMap<String, String> = [
            (
                "user:a".to_owned(),
                r#"{"password":"$2y$10$old","disabled":false,"groups":[]}"#.to_owned(),
            ),
            (
                "acl".to_owned(),
                r#"[{"match":{},"actions":["pull"]}]"#.to_owned(),
            ),
            ("apikey:00".to_owned(), r#"{"account":"x"}"#.to_owned()),
        ]
        .into();
        let (changes, text) = diff(&desired, &current);
        assert_eq!(
            changes,
            [
                Change::Update("user:a".into()),
                Change::Add("user:b".into()),
                Change::Delete("apikey:00".into())
            ]
        );
        assert!(!text.contains("$2y$"), "{text}");
        assert!(
            text.contains("~ user:a\n    disabled: false -> true\n    password: changed\n"),
            "{text}"
        );
        assert!(
            text.ends_with("1 to add, 1 to change, 1 to delete, 1 unchanged\n"),
            "{text}"
        );
    }

    #[test]
    fn array_diffs_name_the_rule_index() {
        let lines = describe_update(
            &serde_json::json!([{"a": 1}, {"b": 2}]),
            &serde_json::json!([{"a": 1}, {"b": 3}, {"c": 4}]),
        );
        assert_eq!(
            lines,
            [r#"[1]: {"b":2} -> {"b":3}"#, r#"[2]: added {"c":4}"#]
        );
    }
}
