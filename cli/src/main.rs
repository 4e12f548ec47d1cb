//! `tollgate`: the operator CLI of the Tollgate registry token service.
//!
//! It never talks to the worker's internals: it writes the files and KV records the worker reads
//! (keys, certificates, `.dev.vars`, `user:`/`apikey:`/`acl` records) and evaluates policies with
//! the same core code the worker runs.

mod audit;
mod explain;
mod files;
mod inspect;
mod keys;
mod login;
mod logread;
mod personal;
mod policy_file;
mod replay;
mod secrets;
mod sync;
mod users;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};

use keys::material::Alg;
use policy_file::Loaded;

#[derive(Parser)]
#[command(
    name = "tollgate",
    version,
    about = "Operate a Tollgate registry token service: keys, users, API keys, ACL policy, KV sync, explain, token inspection."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Signing keys, certificates, key IDs, JWKS and the worker's key secrets.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The policy file (users, API keys, ACL rules): validate, render to KV records, sync to KV.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Users of a policy file: add, passwd, disable, enable, delete, list, import-htpasswd.
    User {
        #[command(flatten)]
        policy: PolicyArg,
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Explain the decision for an account and scopes: matching rule, granted and refused actions.
    Explain {
        #[command(flatten)]
        policy: PolicyArg,
        /// The account asking (a user of the policy file); omit with --anonymous or for a workload.
        #[arg(
            long,
            required_unless_present_any = ["anonymous", "issuer", "identity_token"],
            conflicts_with_all = ["anonymous", "issuer", "identity_token"]
        )]
        account: Option<String>,
        /// A federated workload: the name of one of the file's [[issuers]] (with --claims, or to
        /// override the issuer an --identity-token's iss selects).
        #[arg(long, conflicts_with = "anonymous")]
        issuer: Option<String>,
        /// JSON file with the workload's identity-token claims (as the issuer would sign them).
        #[arg(long, requires = "issuer", conflicts_with = "identity_token")]
        claims: Option<std::path::PathBuf>,
        /// File holding an identity token: its claims are decoded WITHOUT verifying the signature,
        /// audience or times (explain shows what the policy would do, not whether the token is good).
        #[arg(long = "identity-token", conflicts_with = "anonymous")]
        identity_token: Option<std::path::PathBuf>,
        /// Explain an anonymous request.
        #[arg(long)]
        anonymous: bool,
        /// A scope as clients send it (type:name:actions); repeat or space-separate for several.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// The service (token audience), needed when rules match on `service`.
        #[arg(long)]
        service: Option<String>,
    },
    /// Tokens: inspect (decode, verify against published keys, registry checks).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Personal credentials from the sign-in page (in KV, not the policy file): list, revoke.
    #[command(subcommand)]
    Credentials(CredentialsCommand),
    /// API keys of a policy file's users: create (shown once, optionally network-bound), list, revoke.
    Apikey {
        #[command(flatten)]
        policy: PolicyArg,
        #[command(subcommand)]
        command: ApikeyCommand,
    },
    /// Sign in to a registry through a browser approval (device flow); caches a short-lived credential
    /// for docker-credential-tollgate and prints the account.
    Login {
        /// The registry host as in `credHelpers` (e.g. registry.example.com or 127.0.0.1:5000).
        host: String,
        /// Print the URL only; do not try to open a browser.
        #[arg(long)]
        no_browser: bool,
    },
    /// Remove the cached credential for a registry host.
    Logout {
        /// The registry host as in `credHelpers`.
        host: String,
    },
    /// Answer from the logs (token audit lines + pull ledger): who pulled, what one credential did, top, refusals.
    Audit {
        /// The log: a file of JSON lines (Logpush, a wrangler dev log) or `wrangler tail --format json`
        /// output; '-' reads stdin (`npx wrangler tail --format json | tollgate audit --log - ...`).
        #[arg(long, global = true, default_value = "-")]
        log: PathBuf,
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Who pulled a repository (or one tag or digest of it), with which credential, from where.
    Pulls {
        #[arg(long)]
        repo: String,
        /// A tag or digest (sha256:...).
        #[arg(long = "ref")]
        reference: Option<String>,
    },
    /// Everything one credential did: an account's token requests and the registry requests made
    /// with the tokens it got (joined by jti) or with it as Basic credentials.
    Credential {
        #[arg(long)]
        account: String,
        /// Only this API key of the account (its name).
        #[arg(long)]
        key: Option<String>,
    },
    /// The most pulled repositories and the busiest accounts.
    Top {
        #[arg(long, default_value_t = 10)]
        limit: usize,
    },
    /// Refusals by reason (token endpoint and proxy).
    Refusals,
}

/// The policy file edited or read by a command.
#[derive(clap::Args)]
struct PolicyArg {
    /// The policy file (TOML); defaults to $TOLLGATE_POLICY.
    #[arg(long, global = true, env = "TOLLGATE_POLICY")]
    policy: Option<PathBuf>,
}

impl PolicyArg {
    fn path(&self) -> Result<&std::path::Path> {
        self.policy.as_deref().ok_or_else(|| {
            anyhow::anyhow!("no policy file: pass --policy FILE or set TOLLGATE_POLICY")
        })
    }
}

/// How a command gets a password.
#[derive(clap::Args)]
struct PasswordArgs {
    /// Read the password from the first line of stdin instead of the terminal.
    #[arg(long)]
    password_stdin: bool,
    /// bcrypt cost (10..=14); each step doubles the worker's CPU per uncached login.
    #[arg(long, default_value_t = 10)]
    cost: u32,
    /// The Workers plan the worker runs on: warns when a password check at this cost does not
    /// fit its CPU limit per request (free: 10 ms, which no bcrypt cost fits).
    #[arg(long, env = "TOLLGATE_PLAN", value_enum)]
    plan: Option<users::Plan>,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Decode a token, verify it with the published keys and say whether a registry would accept it.
    Inspect {
        /// The token, or '-' to read it from stdin (keeps it out of shell history).
        token: String,
        /// Published keys: a JWKS file or URL (e.g. http://127.0.0.1:8787/.well-known/jwks.json) or a PEM bundle.
        #[arg(long)]
        jwks: String,
        /// The issuer the registry expects (auth.token.issuer).
        #[arg(long)]
        issuer: Option<String>,
        /// The service the registry expects (auth.token.service), compared with `aud`.
        #[arg(long)]
        service: Option<String>,
        /// Evaluate exp/nbf at this Unix time instead of now.
        #[arg(long)]
        now: Option<u64>,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user; asks for a password (no echo) unless --no-password (API keys only).
    Add {
        account: String,
        /// Group for ACL rules (`match.group`); repeat for several.
        #[arg(long = "group")]
        groups: Vec<String>,
        /// Create the user without a password (it will only use API keys).
        #[arg(long, conflicts_with = "password_stdin")]
        no_password: bool,
        /// A note for reviewers, kept in the file.
        #[arg(long)]
        comment: Option<String>,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// Set a new password (no echo, or --password-stdin).
    Passwd {
        account: String,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// Revoke every refresh token of a user (those created before now) once synced, without
    /// knowing them; passwords and API keys keep working.
    RevokeRefresh { account: String },
    /// Disable a user: no new tokens, refresh tokens or API-key logins once synced.
    Disable { account: String },
    /// Enable a disabled user again.
    Enable { account: String },
    /// Delete a user and its API keys.
    Delete { account: String },
    /// List users.
    List,
    /// Import bcrypt entries of an htpasswd file (other hash kinds are refused).
    ImportHtpasswd {
        file: PathBuf,
        /// Overwrite the passwords of users that already exist.
        #[arg(long)]
        replace: bool,
    },
}

#[derive(Subcommand)]
enum ApikeyCommand {
    /// Create an API key (256 bits from the OS RNG), store its SHA-256 digest and print the key once.
    Create {
        #[arg(long)]
        account: String,
        /// A label for the key, unique per account (e.g. ci, chartmuseum).
        #[arg(long)]
        name: String,
        /// Expire the key after this many days.
        #[arg(long)]
        expires_days: Option<u32>,
        /// Only usable from this client network (CIDR, IPv4 or IPv6); repeat for several. Checked
        /// when a token is issued and, in proxy mode, on every registry request.
        #[arg(long = "allow-net", value_name = "CIDR")]
        allow_net: Vec<String>,
        /// Only usable from this country (ISO 3166-1 alpha-2, as request.cf.country); repeat for several.
        #[arg(long = "allow-country", value_name = "CC")]
        allow_country: Vec<String>,
    },
    /// List the API keys of every user (or one account): name, created, expiry, network binding.
    List {
        #[arg(long)]
        account: Option<String>,
    },
    /// Remove an API key by its label.
    Revoke {
        #[arg(long)]
        account: String,
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Generate a signing key (PKCS#8 PEM, mode 0600) and its self-signed certificate; print the kid.
    Generate {
        /// ES256 (P-256) signs registry tokens; RS256 is for ChartMuseum services.
        #[arg(long, value_enum)]
        alg: Alg,
        /// Directory for NAME.key.pem and NAME.crt.pem (created if missing).
        #[arg(long)]
        out_dir: PathBuf,
        /// File name stem, e.g. signing, rsa-signing, signing-next.
        #[arg(long)]
        name: String,
        /// Certificate subject CN (default: "tollgate NAME").
        #[arg(long)]
        common_name: Option<String>,
        /// Certificate lifetime in days.
        #[arg(long, default_value_t = 3650)]
        days: u32,
        /// RSA modulus size (RS256 only): 2048, 3072 or 4096.
        #[arg(long, default_value_t = 2048)]
        bits: usize,
        /// Replace existing files.
        #[arg(long)]
        force: bool,
    },
    /// Print a .dev.vars file (dotenv) with SIGNING_KEY, SIGNING_CERT, RSA_SIGNING_KEY and PUBLISHED_KEYS from DIR.
    DevVars {
        /// Directory holding signing.key.pem, signing.crt.pem, optional rsa-signing.key.pem and other *.crt.pem.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Show a key or certificate file: algorithm, libtrust kid, JWK, and the `wrangler secret put` steps.
    Show {
        /// A PEM file: PKCS#8 private key, certificate(s) or public key.
        file: PathBuf,
        /// wrangler environment to name in the printed steps (e.g. staging, prod).
        #[arg(long)]
        env: Option<String>,
    },
    /// Print or write the JWK Set (RFC 7517) of the keys/certificates in FILES or DIR: the `jwks`
    /// file of a registry 3.x `auth.token` block, or a set for other verifiers.
    #[command(group(clap::ArgGroup::new("input").required(true).args(["files", "dir"])))]
    Jwks {
        /// PEM files: certificates, public keys or private keys (only the public half is written).
        files: Vec<PathBuf>,
        /// A key directory: every NAME.crt.pem in it (signing, signing-next, signing-previous
        /// during a rotation, rsa-signing).
        #[arg(long, conflicts_with = "files")]
        dir: Option<PathBuf>,
        /// Key ID form of each entry: libtrust (registry 2.x), thumbprint (RFC 7638, registry
        /// 3.x), or both (each key twice: a registry finds it whichever TOKEN_KID signs).
        #[arg(long, value_enum, default_value_t = KidArg::Both)]
        kid: KidArg,
        /// Write the set to FILE (replaced atomically) instead of printing it.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Join certificates into one PEM bundle (a registry's rootcertbundle, or PUBLISHED_KEYS).
    Bundle {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Rotate the ES256 signing key: start (new key, publish it), switch (it signs), retire (drop the old).
    Rotate {
        #[arg(value_enum)]
        step: RotateStep,
        /// The key directory (signing.*, signing-next.*, signing-previous.*).
        #[arg(long)]
        dir: PathBuf,
        /// wrangler environment to name in the printed steps.
        #[arg(long)]
        env: Option<String>,
        /// Certificate lifetime of the new key (start only).
        #[arg(long, default_value_t = 3650)]
        days: u32,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum KidArg {
    Libtrust,
    Thumbprint,
    Both,
}

impl KidArg {
    fn formats(self) -> &'static [tollgate_core::token::KidFormat] {
        use tollgate_core::token::KidFormat::{Libtrust, Thumbprint};
        match self {
            KidArg::Libtrust => &[Libtrust],
            KidArg::Thumbprint => &[Thumbprint],
            KidArg::Both => &[Libtrust, Thumbprint],
        }
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum RotateStep {
    /// Generate signing-next.* and print how to publish it.
    Start,
    /// Make signing-next the active key, keep the old one as signing-previous.
    Switch,
    /// Delete signing-previous.* once tokens it signed have expired.
    Retire,
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Validate the file and print the JSON array for `wrangler kv bulk put`.
    Render {
        /// The policy file (TOML).
        file: PathBuf,
    },
    /// Check the file: unknown fields, bad globs and placeholders, invalid actions, shadowed rules.
    Validate {
        /// The policy file (TOML).
        file: PathBuf,
    },
    /// Re-decide every logged token request and proxied request under a candidate policy file and
    /// print the decisions that would change, grouped by rule; exit status 3 if any would.
    Replay {
        /// The log (JSON lines or `wrangler tail --format json` output); '-' reads stdin.
        #[arg(long)]
        log: PathBuf,
        /// The candidate policy file (TOML), validated first.
        #[arg(long)]
        candidate: PathBuf,
        /// The service proxied requests were for (default: the only one the token lines name).
        #[arg(long)]
        service: Option<String>,
        /// CHART_DEPTH of the proxy, to map chart paths to their namespace.
        #[arg(long, default_value_t = 0)]
        chart_depth: usize,
    },
    /// Show the diff against the worker's KV namespace, then write it with `wrangler kv bulk put/delete`.
    #[command(group(clap::ArgGroup::new("where").required(true).args(["local", "remote"])))]
    Sync {
        /// The policy file (TOML).
        file: PathBuf,
        #[command(flatten)]
        kv: KvArgs,
        /// Only show the diff.
        #[arg(long)]
        dry_run: bool,
        /// Apply remote changes without asking.
        #[arg(long)]
        yes: bool,
    },
}

/// Which KV namespace a command reads and writes, through wrangler.
#[derive(clap::Args)]
struct KvArgs {
    /// The local namespace `wrangler dev` uses.
    #[arg(long)]
    local: bool,
    /// The deployed namespace (asks for confirmation unless --yes).
    #[arg(long)]
    remote: bool,
    /// wrangler environment (wrangler.toml [env.NAME]).
    #[arg(long)]
    env: Option<String>,
    /// The KV binding name in wrangler.toml.
    #[arg(long, default_value = "TOLLGATE_KV")]
    binding: String,
    /// Local persistence directory (as given to `wrangler dev --persist-to`).
    #[arg(long)]
    persist_to: Option<PathBuf>,
    /// The wrangler command (split on spaces).
    #[arg(long, env = "TOLLGATE_WRANGLER", default_value = "npx wrangler")]
    wrangler: String,
}

impl KvArgs {
    fn target(self) -> sync::Target {
        // The "where" group requires exactly one of --local and --remote: --remote decides.
        debug_assert!(self.local != self.remote);
        sync::Target {
            remote: self.remote,
            env: self.env,
            binding: self.binding,
            persist_to: self.persist_to,
            wrangler: self
                .wrangler
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
        }
    }
}

/// Personal credentials people made on the sign-in page (issue 14).
#[derive(Subcommand)]
enum CredentialsCommand {
    /// List them: owner, name, created, expires and id (the digest, never the credential).
    #[command(group(clap::ArgGroup::new("where").required(true).args(["local", "remote"])))]
    List {
        /// Only this person's (their account, e.g. sso-alice).
        #[arg(long)]
        account: Option<String>,
        #[command(flatten)]
        kv: KvArgs,
    },
    /// Revoke one by its id (or a unique prefix of it, at least 8 characters).
    #[command(group(clap::ArgGroup::new("where").required(true).args(["local", "remote"])))]
    Revoke {
        id: String,
        #[command(flatten)]
        kv: KvArgs,
    },
}

/// Parses and validates a policy file; every problem is listed with FILE:LINE:COLUMN.
fn load_valid(file: &std::path::Path) -> Result<Loaded> {
    let loaded = Loaded::read(file)?;
    let problems = policy_file::validate::problems(&loaded);
    if !problems.is_empty() {
        bail!(
            "{} problem(s) in the policy file:\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
    Ok(loaded)
}

/// Writes to stdout; a closed pipe (`tollgate ... | head`) is not an error and never a panic.
fn emit(text: &str) -> Result<()> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::anyhow!("writing to stdout: {e}"))
        }
        _ => Ok(()),
    }
}

/// Writes a note or an error to stderr; failures to write are ignored rather than panicking.
fn note(text: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// Pretty JSON plus a final newline.
fn pretty(value: &impl serde::Serialize) -> Result<String> {
    Ok(format!("{}\n", serde_json::to_string_pretty(value)?))
}

/// Unix seconds now: the CLI is a shell, so it reads the clock and hands it to the code below.
fn now() -> Result<u64> {
    Ok(std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| anyhow::anyhow!("the system clock is before 1970"))?
        .as_secs())
}

fn run_user(policy: &PolicyArg, command: UserCommand) -> Result<String> {
    let path = policy.path()?;
    match command {
        UserCommand::Add {
            account,
            groups,
            no_password,
            comment,
            password,
        } => {
            let pw = if no_password {
                None
            } else {
                Some(secrets::read_password(password.password_stdin, &account)?)
            };
            let warning = pw
                .as_ref()
                .and_then(|_| users::plan_warning(password.cost, password.plan));
            let added = users::add(
                path,
                users::AddOptions {
                    account: &account,
                    groups: &groups,
                    password: pw,
                    cost: password.cost,
                    comment: comment.as_deref(),
                },
            )?;
            Ok(added + &warning.unwrap_or_default())
        }
        UserCommand::Passwd { account, password } => {
            let pw = secrets::read_password(password.password_stdin, &account)?;
            let changed = users::passwd(path, &account, &pw, password.cost)?;
            Ok(changed + &users::plan_warning(password.cost, password.plan).unwrap_or_default())
        }
        UserCommand::RevokeRefresh { account } => users::revoke_refresh(path, &account, now()?),
        UserCommand::Disable { account } => users::set_disabled(path, &account, true),
        UserCommand::Enable { account } => users::set_disabled(path, &account, false),
        UserCommand::Delete { account } => users::delete(path, &account),
        UserCommand::List => users::list(path),
        UserCommand::ImportHtpasswd { file, replace } => {
            users::import_htpasswd(path, &file, replace)
        }
    }
}

fn run_apikey(policy: &PolicyArg, command: ApikeyCommand) -> Result<String> {
    let path = policy.path()?;
    match command {
        ApikeyCommand::Create {
            account,
            name,
            expires_days,
            allow_net,
            allow_country,
        } => {
            let binding = tollgate_core::netbind::NetBinding::parse(&allow_net, &allow_country)
                .map_err(|e| anyhow::anyhow!("--allow-net/--allow-country: {e}"))?;
            let key = users::apikey_create(path, &account, &name, now()?, expires_days, &binding)?;
            note(&format!(
                "created API key {name:?} for {account} in {}; only its digest is stored, so copy the key now (it is not shown again)",
                path.display()
            ));
            Ok(format!("{key}\n"))
        }
        ApikeyCommand::List { account } => users::apikey_list(path, account.as_deref()),
        ApikeyCommand::Revoke { account, name } => users::apikey_revoke(path, &account, &name),
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Explain {
            policy,
            account,
            anonymous: _,
            issuer,
            claims,
            identity_token,
            scopes,
            service,
        } => {
            let loaded = load_valid(policy.path()?)?;
            let workload = match (&claims, &identity_token) {
                (Some(file), _) => Some(explain::Workload::from_claims_file(issuer.clone(), file)?),
                (None, Some(file)) => {
                    Some(explain::Workload::from_token_file(issuer.clone(), file)?)
                }
                (None, None) if issuer.is_some() => {
                    anyhow::bail!("--issuer needs the workload's claims: --claims FILE.json or --identity-token FILE")
                }
                (None, None) => None,
            };
            let req = explain::Request {
                account: account.as_deref(),
                workload,
                scopes: &scopes,
                service: service.as_deref(),
            };
            emit(&explain::explain(&loaded, &req)?)?
        }
        Command::Token(TokenCommand::Inspect {
            token,
            jwks,
            issuer,
            service,
            now: at,
        }) => {
            let token = if token == "-" {
                let mut s = String::new();
                std::io::Read::read_to_string(
                    &mut std::io::Read::take(std::io::stdin(), 64 * 1024),
                    &mut s,
                )
                .map_err(|e| anyhow::anyhow!("reading the token from stdin: {e}"))?;
                s
            } else {
                token
            };
            let keys = inspect::load_keys(&jwks)?;
            let expect = inspect::Expect {
                issuer: issuer.as_deref(),
                service: service.as_deref(),
                now: at.map_or_else(now, Ok)?,
            };
            let (report, accepted) = inspect::inspect(&token, &keys, &expect)?;
            emit(&report)?;
            if !accepted {
                return Err(anyhow::anyhow!(
                    "the token would be refused (see the FAIL lines above)"
                ));
            }
        }
        Command::User { policy, command } => emit(&run_user(&policy, command)?)?,
        Command::Apikey { policy, command } => emit(&run_apikey(&policy, command)?)?,
        Command::Audit { log, command } => {
            let log = logread::read(&log)?;
            note(&audit::summary(&log));
            emit(&match command {
                AuditCommand::Pulls { repo, reference } => {
                    audit::pulls(&log, &repo, reference.as_deref())
                }
                AuditCommand::Credential { account, key } => {
                    audit::credential(&log, &account, key.as_deref())
                }
                AuditCommand::Top { limit } => audit::top(&log, audit::check_limit(limit)?),
                AuditCommand::Refusals => audit::refusals(&log),
            })?
        }
        Command::Keys(KeysCommand::Generate {
            alg,
            out_dir,
            name,
            common_name,
            days,
            bits,
            force,
        }) => {
            let kid = keys::generate(&keys::GenerateOptions {
                alg,
                out_dir: &out_dir,
                name: &name,
                common_name: common_name.as_deref(),
                days,
                bits,
                force,
            })?;
            note(&format!(
                "wrote {} (mode 0600) and {}",
                keys::key_path(&out_dir, &name).display(),
                keys::cert_path(&out_dir, &name).display()
            ));
            emit(&format!("{kid}\n"))?;
        }
        Command::Keys(KeysCommand::DevVars { dir }) => emit(&keys::dev_vars(&dir)?)?,
        Command::Keys(KeysCommand::Show { file, env }) => {
            emit(&keys::show::show(&file, env.as_deref())?)?
        }
        Command::Keys(KeysCommand::Jwks {
            files,
            dir,
            kid,
            out,
        }) => {
            let files = match dir {
                Some(d) => keys::certificates_in(&d)?,
                None => files,
            };
            let set = keys::show::jwks(&files, kid.formats())?;
            let text = pretty(&set)?;
            match out {
                Some(path) => {
                    // A public file: 0644, replacing what is there (never written through a symlink).
                    files::write(&path, text.as_bytes(), 0o644, files::Replace::Allowed)?;
                    let entries = set["keys"].as_array().map_or(0, Vec::len);
                    note(&format!(
                        "wrote {}: {entries} JWK entries from {} files",
                        path.display(),
                        files.len()
                    ));
                }
                None => emit(&text)?,
            }
        }
        Command::Keys(KeysCommand::Bundle { files }) => emit(&keys::show::bundle(&files)?)?,
        Command::Keys(KeysCommand::Rotate {
            step,
            dir,
            env,
            days,
        }) => {
            let env = env.as_deref();
            let text = match step {
                RotateStep::Start => keys::rotate::start(&dir, env, days)?,
                RotateStep::Switch => keys::rotate::switch(&dir, env)?,
                RotateStep::Retire => keys::rotate::retire(&dir, env)?,
            };
            emit(&text)?;
        }
        Command::Policy(PolicyCommand::Replay {
            log,
            candidate,
            service,
            chart_depth,
        }) => {
            // Validator findings (shadowed rules, ...) are shown, not fatal: a candidate with an
            // ordering mistake is exactly what replay is for. Syntax and bad globs still fail.
            let candidate = Loaded::read(&candidate)?;
            for p in policy_file::validate::problems(&candidate) {
                note(&format!("warning: {p}"));
            }
            let chart = tollgate_core::proxy::ChartLayout::new(chart_depth)
                .map_err(|e| anyhow::anyhow!("--chart-depth: {e}"))?;
            let log = logread::read(&log)?;
            let (text, changed) = replay::replay(&log, &candidate, service.as_deref(), &chart)?;
            emit(&text)?;
            if changed {
                return Err(replay::DecisionsChanged.into());
            }
        }
        Command::Policy(PolicyCommand::Render { file }) => {
            let loaded = load_valid(&file)?;
            let entries = policy_file::render::entries(&loaded)?;
            emit(&pretty(&entries)?)?;
        }
        Command::Policy(PolicyCommand::Sync {
            file,
            kv,
            dry_run,
            yes,
        }) => {
            let loaded = load_valid(&file)?;
            let entries = policy_file::render::entries(&loaded)?;
            sync::sync(
                &entries,
                &kv.target(),
                &sync::SyncOptions { dry_run, yes },
                &mut |t| emit(t),
            )?;
        }
        Command::Login { host, no_browser } => emit(&login::login(&host, no_browser)?)?,
        Command::Logout { host } => emit(&login::logout(&host)?)?,
        Command::Credentials(CredentialsCommand::List { account, kv }) => {
            emit(&personal::list(&kv.target(), account.as_deref(), now()?)?)?;
        }
        Command::Credentials(CredentialsCommand::Revoke { id, kv }) => {
            emit(&personal::revoke(&kv.target(), &id)?)?;
        }
        Command::Policy(PolicyCommand::Validate { file }) => {
            let loaded = load_valid(&file)?;
            emit(&format!(
                "{}: OK ({} users, {} API keys, {} rules)\n",
                file.display(),
                loaded.policy.users.len(),
                loaded
                    .policy
                    .users
                    .values()
                    .map(|u| u.get_ref().apikeys.len())
                    .sum::<usize>(),
                loaded.policy.rules.len()
            ))?;
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<replay::DecisionsChanged>() => ExitCode::from(replay::CHANGED_EXIT),
        Err(e) => {
            note(&format!("error: {e:#}"));
            ExitCode::FAILURE
        }
    }
}
