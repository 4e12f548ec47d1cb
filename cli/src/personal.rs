//! `tollgate credentials list|revoke`: the personal credentials people made on the sign-in page
//! (issue 14). They live only in KV (`personal:<digest>` plus the owner's `personal-index:<account>`),
//! not in the policy file, so these commands read and write the namespace through wrangler like
//! `policy sync` does. Only digests are ever shown: the credentials themselves are not stored.

use anyhow::{anyhow, bail, Result};
use serde_json::Value;
use tollgate_core::signin::credentials::{index_key, parse_record, record_key, IndexEntry};
use tollgate_core::signin::page::date;

use crate::sync::Target;

/// Key names under `prefix`.
fn keys(target: &Target, prefix: &str) -> Result<Vec<String>> {
    let listing = target.wrangler(&["key", "list", "--prefix", prefix])?;
    let names: Vec<Value> = serde_json::from_str(listing.trim())
        .map_err(|e| anyhow!("`wrangler kv key list` did not print a JSON array ({e})"))?;
    Ok(names
        .iter()
        .filter_map(|n| n.get("name").and_then(Value::as_str))
        .map(str::to_owned)
        .collect())
}

fn get(target: &Target, key: &str) -> Result<String> {
    target.wrangler(&["key", "get", key, "--text"])
}

pub(crate) fn list(target: &Target, account: Option<&str>, now: u64) -> Result<String> {
    let mut rows = Vec::new();
    for key in keys(target, "personal:")? {
        let r = parse_record(&get(target, &key)?).map_err(|e| anyhow!("{key}: {e}"))?;
        if account.is_some_and(|a| a != r.account) {
            continue;
        }
        let state = if r.expires <= now { " (expired)" } else { "" };
        // A device approval's credential (issue 15) says so after its name.
        let origin = if r.device.is_some() {
            " (device approval)"
        } else {
            ""
        };
        rows.push(format!(
            "{}\t{}{origin}\tcreated {}\texpires {}{state}\tid {}",
            r.account,
            r.name,
            date(r.created),
            date(r.expires),
            key.trim_start_matches("personal:")
        ));
    }
    if rows.is_empty() {
        return Ok("no personal credentials\n".into());
    }
    rows.sort();
    Ok(rows.join("\n") + "\n")
}

pub(crate) fn revoke(target: &Target, id: &str) -> Result<String> {
    if id.len() < 8 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("give the credential's id (hex, at least 8 characters) from `tollgate credentials list`");
    }
    let matches = keys(target, &record_key(&id.to_ascii_lowercase()))?;
    let key = match matches.as_slice() {
        [one] => one.clone(),
        [] => bail!("no personal credential with id {id}"),
        _ => bail!(
            "id {id} matches {} credentials: give more characters",
            matches.len()
        ),
    };
    let record = parse_record(&get(target, &key)?).map_err(|e| anyhow!("{key}: {e}"))?;
    target.wrangler(&["key", "delete", &key])?;
    // The owner's list on the page: drop the entry (a stale one could not authenticate anyway).
    let digest = key.trim_start_matches("personal:");
    let ikey = index_key(&record.account);
    if keys(target, &ikey)?.contains(&ikey) {
        let mut entries: Vec<IndexEntry> = serde_json::from_str(&get(target, &ikey)?)
            .map_err(|e| anyhow!("{ikey} is malformed ({e})"))?;
        entries.retain(|e| e.id != digest);
        if entries.is_empty() {
            target.wrangler(&["key", "delete", &ikey])?;
        } else {
            target.wrangler(&["key", "put", &ikey, &serde_json::to_string(&entries)?])?;
        }
    }
    Ok(format!(
        "revoked '{}' of {} (refused as soon as KV serves the delete)\n",
        record.name, record.account
    ))
}
