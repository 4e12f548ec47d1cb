//! `tollgate`: the operator CLI of the Tollgate registry token service.
//!
//! It never talks to the worker's internals: it writes the files and KV records the worker reads
//! (keys, certificates, `.dev.vars`, `user:`/`apikey:`/`acl` records) and evaluates policies with
//! the same core code the worker runs.

mod keys;
mod policy_file;

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
    /// Print the JWK Set (RFC 7517, libtrust kids) of the keys/certificates in FILES.
    Jwks {
        #[arg(required = true)]
        files: Vec<PathBuf>,
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

fn run(cli: Cli) -> Result<()> {
    match cli.command {
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
        Command::Keys(KeysCommand::Jwks { files }) => emit(&pretty(&keys::show::jwks(&files)?)?)?,
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
        Command::Policy(PolicyCommand::Render { file }) => {
            let loaded = load_valid(&file)?;
            let entries = policy_file::render::entries(&loaded)?;
            emit(&pretty(&entries)?)?;
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
        Err(e) => {
            note(&format!("error: {e:#}"));
            ExitCode::FAILURE
        }
    }
}
