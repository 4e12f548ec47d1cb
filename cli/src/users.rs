//! `tollgate user ...` and `tollgate apikey ...`: edit the users of a policy file in place, keeping
//! its comments and layout (toml_edit), and refuse to write a result `policy validate` would reject.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use toml_edit::{value, Array, DocumentMut, InlineTable, Item, Table, Value};

use crate::policy_file::{self, validate, Loaded};
use crate::secrets;

/// Reads the policy file as an editable document.
fn open(path: &Path) -> Result<(String, DocumentMut)> {
    let text = fs::read_to_string(path).with_context(|| {
        format!(
            "{}: cannot read the policy file (create it from policy/example.toml)",
            path.display()
        )
    })?;
    let doc = text.parse::<DocumentMut>().map_err(|e| {
        let at = match e.span() {
            Some(span) => policy_file::location(path, &text, span),
            None => path.display().to_string(),
        };
        anyhow!("{at}: {}", e.message().trim_end())
    })?;
    Ok((text, doc))
}

/// Validates the edited document and replaces the file atomically (same directory, same mode).
fn save(path: &Path, doc: &DocumentMut) -> Result<()> {
    let text = doc.to_string();
    let loaded = Loaded::parse(path, text.clone())?;
    let problems = validate::problems(&loaded);
    if !problems.is_empty() {
        bail!(
            "the change would leave problems in the policy file, so it was not written:\n  {}",
            problems.join("\n  ")
        );
    }
    // A random, exclusively created 0600 temporary file renamed over the policy file (keeping its
    // mode): no predictable name to plant a symlink at, and the rename never writes through one.
    crate::files::write(
        path,
        text.as_bytes(),
        crate::files::mode_of(path, 0o644),
        crate::files::Replace::Allowed,
    )
}

/// The `[users]` table, created (as an implicit table, so users render as `[users.NAME]`) if absent.
fn users_table<'a>(doc: &'a mut DocumentMut, path: &Path) -> Result<&'a mut Table> {
    if !doc.contains_key("users") {
        let mut t = Table::new();
        t.set_implicit(true);
        doc.insert("users", Item::Table(t));
    }
    doc["users"].as_table_mut().ok_or_else(|| {
        anyhow!(
            "{}: `users` must be a table of [users.NAME] sections",
            path.display()
        )
    })
}

fn check_account(account: &str) -> Result<()> {
    if let Some(why) = validate::account_name_problem(account) {
        bail!("account {account:?}: the name {why}");
    }
    Ok(())
}

/// The Workers plan a deployment runs on, for its CPU limit per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Plan {
    /// 10 ms of CPU per request.
    Free,
    /// 30 s of CPU per request by default.
    Paid,
}

/// CPU of one bcrypt check at cost 10 in the worker's wasm, measured (bench/token.sh: a wrong
/// password, always a full check, 85-119 ms); each cost step doubles it.
const BCRYPT_COST10_MS: u64 = 100;
/// The Free plan's CPU limit per request.
const FREE_CPU_MS: u64 = 10;
/// The Paid plan's default CPU limit per request.
const PAID_CPU_MS: u64 = 30_000;

/// A warning line when a password check at `cost` cannot fit `plan`'s CPU limit per request.
pub(crate) fn plan_warning(cost: u32, plan: Option<Plan>) -> Option<String> {
    let ms = BCRYPT_COST10_MS << cost.saturating_sub(10).min(20);
    let (name, limit) = match plan? {
        Plan::Free => ("Free", FREE_CPU_MS),
        Plan::Paid => ("Paid", PAID_CPU_MS),
    };
    (ms > limit).then(|| {
        format!(
            "warning: a bcrypt check at cost {cost} takes about {ms} ms of CPU in the worker, over \
             the Workers {name} plan's {limit} ms per request: password logins will fail there \
             with 'exceeded CPU' on every uncached check. API keys, personal credentials, \
             identity tokens and refresh tokens fit the Free plan; passwords need the Paid plan.\n"
        )
    })
}

pub(crate) struct AddOptions<'a> {
    pub account: &'a str,
    pub groups: &'a [String],
    pub password: Option<String>,
    pub cost: u32,
    pub comment: Option<&'a str>,
}

/// `user add`: a new `[users.NAME]` section.
pub(crate) fn add(path: &Path, opts: AddOptions) -> Result<String> {
    check_account(opts.account)?;
    let (_, mut doc) = open(path)?;
    let users = users_table(&mut doc, path)?;
    if users.contains_key(opts.account) {
        bail!(
            "{}: user {:?} already exists (use `tollgate user passwd` to change its password)",
            path.display(),
            opts.account
        );
    }
    let mut t = Table::new();
    if let Some(c) = opts.comment {
        t.insert("comment", value(c));
    }
    if let Some(pw) = &opts.password {
        t.insert("password", value(secrets::hash_password(pw, opts.cost)?));
    }
    if !opts.groups.is_empty() {
        t.insert(
            "groups",
            value(Array::from_iter(opts.groups.iter().map(String::as_str))),
        );
    }
    users.insert(opts.account, Item::Table(t));
    save(path, &doc)?;
    let how = if opts.password.is_some() {
        "with a password"
    } else {
        "without a password (API keys only)"
    };
    Ok(format!(
        "added user {} {how} to {}; sync it with `tollgate policy sync`\n",
        opts.account,
        path.display()
    ))
}

/// `user passwd`: replace a user's bcrypt hash.
pub(crate) fn passwd(path: &Path, account: &str, password: &str, cost: u32) -> Result<String> {
    let (_, mut doc) = open(path)?;
    let t = existing_user(&mut doc, path, account)?;
    t.insert("password", value(secrets::hash_password(password, cost)?));
    save(path, &doc)?;
    Ok(format!(
        "changed the password of {account} in {}; after `tollgate policy sync` the refresh tokens \
         minted with the old password are refused (within CACHE_TTL); those minted from an API \
         key keep working (`tollgate user revoke-refresh {account}` ends them all)\n",
        path.display()
    ))
}

/// `user revoke-refresh`: every refresh token of the account created before `now` is refused
/// once synced (the worker compares each token's creation time with the user record).
pub(crate) fn revoke_refresh(path: &Path, account: &str, now: u64) -> Result<String> {
    let (_, mut doc) = open(path)?;
    let t = existing_user(&mut doc, path, account)?;
    t.insert("refresh_revoked_before", value(now as i64));
    save(path, &doc)?;
    Ok(format!(
        "revoked every refresh token of {account} created before {now} in {}; after `tollgate \
         policy sync` they are refused (within CACHE_TTL) and its clients must log in again\n",
        path.display()
    ))
}

fn existing_user<'a>(
    doc: &'a mut DocumentMut,
    path: &Path,
    account: &str,
) -> Result<&'a mut dyn toml_edit::TableLike> {
    let users = users_table(doc, path)?;
    users
        .get_mut(account)
        .and_then(Item::as_table_like_mut)
        .ok_or_else(|| {
            anyhow!(
                "{}: there is no user {account:?} (see `tollgate user list`)",
                path.display()
            )
        })
}

/// `user disable` / `user enable`.
pub(crate) fn set_disabled(path: &Path, account: &str, disabled: bool) -> Result<String> {
    let (_, mut doc) = open(path)?;
    let t = existing_user(&mut doc, path, account)?;
    if disabled {
        t.insert("disabled", value(true));
    } else {
        t.remove("disabled");
    }
    save(path, &doc)?;
    let what = if disabled { "disabled" } else { "enabled" };
    Ok(format!(
        "{what} {account} in {}; after `tollgate policy sync` its tokens, refresh tokens and API keys stop working\n",
        path.display()
    ))
}

/// `user delete`: removes the user and its API keys; names the rules that still mention it.
pub(crate) fn delete(path: &Path, account: &str) -> Result<String> {
    let (_, mut doc) = open(path)?;
    let users = users_table(&mut doc, path)?;
    if users.remove(account).is_none() {
        bail!(
            "{}: there is no user {account:?} (see `tollgate user list`)",
            path.display()
        );
    }
    save(path, &doc)?;
    let loaded = Loaded::read(path)?;
    let mut out = format!(
        "deleted user {account} and its API keys from {}\n",
        path.display()
    );
    for (i, rule) in loaded.policy.rules.iter().enumerate() {
        let mentions = rule
            .get_ref()
            .matches
            .as_ref()
            .and_then(|m| m.get_ref().account.as_ref())
            .is_some_and(|a| a.get_ref() == account);
        if mentions {
            writeln!(out, "note: {}: rule #{} still names account {account:?}; remove it if it is no longer needed", loaded.at(rule.span()), i)?;
        }
    }
    Ok(out)
}

/// `user list`: one line per user.
pub(crate) fn list(path: &Path) -> Result<String> {
    let loaded = Loaded::read(path)?;
    let mut out = format!(
        "{:<24} {:<9} {:<8} {:<7} GROUPS\n",
        "ACCOUNT", "STATE", "PASSWORD", "APIKEYS"
    );
    for (name, user) in &loaded.policy.users {
        let u = user.get_ref();
        let groups: Vec<&str> = u.groups.iter().map(|g| g.get_ref().as_str()).collect();
        let line = format!(
            "{:<24} {:<9} {:<8} {:<7} {}",
            name,
            if u.disabled { "disabled" } else { "active" },
            if u.password.is_some() { "bcrypt" } else { "-" },
            u.apikeys.len(),
            groups.join(",")
        );
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(out)
}

/// `apikey create`: appends `{ name, digest, created[, expires] }` to the user's `apikeys` and
/// returns the key, which is shown once and stored nowhere.
pub(crate) fn apikey_create(
    path: &Path,
    account: &str,
    name: &str,
    now: u64,
    expires_days: Option<u32>,
    binding: &tollgate_core::netbind::NetBinding,
) -> Result<String> {
    let (_, mut doc) = open(path)?;
    let t = existing_user(&mut doc, path, account)?;
    let key = secrets::new_api_key(account);
    let mut entry = InlineTable::new();
    entry.insert("name", name.into());
    entry.insert("digest", secrets::digest(&key).into());
    entry.insert(
        "created",
        i64::try_from(now)
            .map_err(|_| anyhow!("the clock is out of range"))?
            .into(),
    );
    if let Some(days) = expires_days {
        if days == 0 {
            bail!(
                "--expires-days 0: use at least 1, or leave it out for a key that does not expire"
            );
        }
        let exp = now.saturating_add(u64::from(days) * 86_400);
        entry.insert(
            "expires",
            i64::try_from(exp)
                .map_err(|_| anyhow!("--expires-days {days} is too far away"))?
                .into(),
        );
    }
    // Written normalised (canonical CIDRs, upper-case countries), as the worker will read them.
    let nets: Array = binding.cidrs().collect();
    if !nets.is_empty() {
        entry.insert("allow_net", Value::Array(nets));
    }
    let countries: Array = binding.countries().iter().map(String::as_str).collect();
    if !countries.is_empty() {
        entry.insert("allow_country", Value::Array(countries));
    }
    let existing = t.get("apikeys").and_then(Item::as_array).map(|a| {
        a.iter().any(|v| {
            v.as_inline_table()
                .and_then(|it| it.get("name"))
                .and_then(Value::as_str)
                == Some(name)
        })
    });
    if existing == Some(true) {
        bail!("users.{account} already has an API key named {name:?}: pick another --name or revoke it first");
    }
    if !t.contains_key("apikeys") {
        t.insert("apikeys", value(Array::new()));
    }
    let array = t
        .get_mut("apikeys")
        .and_then(Item::as_array_mut)
        .ok_or_else(|| {
            anyhow!(
                "{}: users.{account}.apikeys must be an array of inline tables",
                path.display()
            )
        })?;
    let mut v = Value::InlineTable(entry);
    v.decor_mut().set_prefix("\n  ");
    array.push_formatted(v);
    array.set_trailing("\n");
    array.set_trailing_comma(true);
    save(path, &doc)?;
    Ok(key)
}

/// `apikey list`: one line per API key, with its network binding ("-": usable from anywhere).
pub(crate) fn apikey_list(path: &Path, account: Option<&str>) -> Result<String> {
    let loaded = Loaded::read(path)?;
    if let Some(a) = account {
        if !loaded.policy.users.contains_key(a) {
            bail!("no user {a:?} in {}", path.display());
        }
    }
    let mut out = format!(
        "{:<24} {:<16} {:<10} {:<10} {:<36} COUNTRIES\n",
        "ACCOUNT", "NAME", "CREATED", "EXPIRES", "NETWORKS"
    );
    let users = loaded
        .policy
        .users
        .iter()
        .filter(|(name, _)| account.is_none_or(|a| a == name.as_str()));
    for (name, user) in users {
        for key in &user.get_ref().apikeys {
            let k = key.get_ref();
            let list = |v: &[toml::Spanned<String>]| {
                if v.is_empty() {
                    "-".to_string()
                } else {
                    v.iter()
                        .map(|x| x.get_ref().as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                }
            };
            let line = format!(
                "{:<24} {:<16} {:<10} {:<10} {:<36} {}",
                name,
                k.name.get_ref(),
                k.created,
                k.expires
                    .as_ref()
                    .map_or("never".to_string(), |e| e.get_ref().to_string()),
                list(&k.allow_net),
                list(&k.allow_country)
            );
            writeln!(out, "{}", line.trim_end())?;
        }
    }
    Ok(out)
}

/// `apikey revoke`: removes the named key of an account.
pub(crate) fn apikey_revoke(path: &Path, account: &str, name: &str) -> Result<String> {
    let (_, mut doc) = open(path)?;
    let t = existing_user(&mut doc, path, account)?;
    let array = t.get_mut("apikeys").and_then(Item::as_array_mut);
    let Some(array) = array else {
        bail!("users.{account} has no API keys");
    };
    let before = array.len();
    array.retain(|v| {
        v.as_inline_table()
            .and_then(|it| it.get("name"))
            .and_then(Value::as_str)
            != Some(name)
    });
    if array.len() == before {
        bail!("users.{account} has no API key named {name:?} (see `tollgate user list`)");
    }
    save(path, &doc)?;
    Ok(format!(
        "revoked API key {name:?} of {account} in {}; `tollgate policy sync` deletes its apikey: \
         record, and from then on the refresh tokens minted from this key are refused too (within \
         CACHE_TTL)\n",
        path.display()
    ))
}

/// `user import-htpasswd`: adds every `user:hash` line of an htpasswd file. Only bcrypt entries
/// can be verified by the worker, so any other kind makes the whole import fail with the lines to fix.
pub(crate) fn import_htpasswd(path: &Path, htpasswd: &Path, replace: bool) -> Result<String> {
    let text = fs::read_to_string(htpasswd)
        .with_context(|| format!("{}: cannot read the htpasswd file", htpasswd.display()))?;
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let at = format!("{}:{}", htpasswd.display(), i + 1);
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let Some((user, hash)) = line.split_once(':') else {
            problems.push(format!("{at}: expected USER:HASH"));
            continue;
        };
        if let Some(why) = validate::account_name_problem(user) {
            problems.push(format!("{at}: user {user:?}: the account name {why}"));
            continue;
        }
        if let Some(why) = validate::bcrypt_problem(hash) {
            if hash.starts_with("$2") {
                problems.push(format!("{at}: user {user:?}: the hash {why}"));
                continue;
            }
            let kind = if hash.starts_with("$apr1$") {
                "an APR1-MD5 hash"
            } else if hash.starts_with("{SHA}") {
                "a SHA-1 hash"
            } else if hash.starts_with("$5$") || hash.starts_with("$6$") {
                "a SHA-crypt hash"
            } else {
                "not a bcrypt hash"
            };
            problems.push(format!(
                "{at}: user {user:?} has {kind}; only bcrypt entries can be imported: reset it with `htpasswd -B` or `tollgate user add`"
            ));
            continue;
        }
        entries.push((user.to_owned(), hash.to_owned()));
    }
    if !problems.is_empty() {
        bail!(
            "nothing imported; {} line(s) to fix:\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
    if entries.is_empty() {
        bail!("{}: no USER:HASH lines found", htpasswd.display());
    }
    let (_, mut doc) = open(path)?;
    let users = users_table(&mut doc, path)?;
    let (mut added, mut updated) = (0, 0);
    for (user, hash) in &entries {
        match users.get_mut(user).and_then(Item::as_table_like_mut) {
            Some(existing) if replace => {
                existing.insert("password", value(hash.as_str()));
                updated += 1;
            }
            Some(_) => bail!(
                "{}: user {user:?} already exists in {}; pass --replace to overwrite existing passwords",
                htpasswd.display(),
                path.display()
            ),
            None => {
                let mut t = Table::new();
                t.insert("password", value(hash.as_str()));
                users.insert(user, Item::Table(t));
                added += 1;
            }
        }
    }
    save(path, &doc)?;
    Ok(format!(
        "imported {} into {}: {added} added, {updated} password(s) replaced; give them groups and sync with `tollgate policy sync`\n",
        htpasswd.display(),
        path.display()
    ))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::files::fixtures::{file_with_mode, planted_symlink};
    use std::os::unix::fs::PermissionsExt;

    /// The second review: the policy rewrite wrote `.NAME.tollgate-PID.tmp` (a name anyone could
    /// predict and plant a symlink at) with the umask's mode, following symlinks.
    #[test]
    fn save_never_writes_through_a_planted_temporary_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.toml");
        file_with_mode(&path, "[users.alice]\n", 0o640);
        let predictable = format!(".policy.toml.tollgate-{}.tmp", std::process::id());
        let victim = planted_symlink(dir.path(), &predictable);
        let (_, doc) = open(&path).unwrap();
        save(&path, &doc).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "keep");
        assert_eq!(fs::read_to_string(&path).unwrap(), "[users.alice]\n");
        let mode = fs::symlink_metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640, "the policy file keeps its mode");
    }
}
