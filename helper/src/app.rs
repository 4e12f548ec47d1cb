//! The credential-helper actions on top of the [`Client`], and reading the configuration from the
//! environment. The binary (`main.rs`) only wires the real seams in.

use std::io::Read as _;

use crate::client::{not_revoked, Client, Revocation};
use crate::discover::Config;
use crate::error::Error;
use crate::protocol::{self, Action, Credentials, RegistryHost, MAX_INPUT};

/// What the helper prints on stdout and its exit status.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    pub stdout: String,
    pub code: i32,
}

impl Outcome {
    pub fn ok(stdout: String) -> Outcome {
        Outcome { stdout, code: 0 }
    }

    /// The protocol's failure: the message on stdout, exit 1.
    pub fn fail(e: &Error) -> Outcome {
        Outcome {
            stdout: format!("{e}\n"),
            code: 1,
        }
    }
}

/// The answer to `version`.
pub const VERSION: &str = concat!(
    "docker-credential-tollgate (Tollgate) ",
    env!("CARGO_PKG_VERSION"),
    "\n"
);

/// One action with its stdin payload. `interactive`: whether `get` may start an approval.
pub fn run(action: Action, input: &str, client: &Client<'_>, interactive: bool) -> Outcome {
    let result = match action {
        Action::Version => Ok(VERSION.into()),
        // Never parse or echo what `store` was given: it holds a secret we will not keep.
        Action::Store => Err(Error::StoreRefused),
        Action::List => client
            .cache
            .list(client.clock.now())
            .map(|m| protocol::list_json(&m)),
        Action::Get => RegistryHost::parse(input).and_then(|host| {
            let c = client.get(&host, interactive)?;
            let answer = Credentials {
                server_url: input.trim(),
                username: &c.username,
                secret: c.password.expose(),
            };
            serde_json::to_string(&answer).map_err(|e| Error::BadInput {
                reason: e.to_string(),
            })
        }),
        // `docker logout`: the credential ends at Tollgate too (best effort: the file goes
        // whatever Tollgate answers, and a failed revocation is said on the terminal).
        Action::Erase => {
            RegistryHost::parse(input).and_then(|host| match client.logout(&host)? {
                Some((c, Revocation::Failed(why))) => {
                    client.ui.show(&not_revoked(&host, &c, &why));
                    Ok(String::new())
                }
                Some((_, Revocation::Revoked)) => Ok(String::new()),
                None => Err(Error::NotFound),
            })
        }
    };
    match result {
        Ok(out) => Outcome::ok(out),
        Err(e) => Outcome::fail(&e),
    }
}

/// The line to repeat on the person's terminal after an action, if any: `docker pull` and `docker
/// push` drop a helper's failure and go on anonymously (only `docker build`/`compose` and
/// containers/image print it), so a failed `get` is also said on the terminal, unless stdout is
/// that terminal already. "Not found" is no failure to report.
pub fn terminal_echo(action: Action, out: &Outcome, stdout_is_terminal: bool) -> Option<&str> {
    let line = out.stdout.trim_end();
    (action == Action::Get
        && out.code != 0
        && line != crate::error::NOT_FOUND
        && !stdout_is_terminal)
        .then_some(line)
}

/// Reads stdin up to [`MAX_INPUT`] bytes as UTF-8.
pub fn read_input(reader: impl std::io::Read) -> Result<String, Error> {
    read_bounded(reader, "stdin")
}

/// Reads `what` (stdin, a file) up to [`MAX_INPUT`] bytes as UTF-8.
fn read_bounded(mut reader: impl std::io::Read, what: &str) -> Result<String, Error> {
    let mut buf = Vec::new();
    reader
        .by_ref()
        .take(MAX_INPUT as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::BadInput {
            reason: format!("reading {what}: {e}"),
        })?;
    if buf.len() > MAX_INPUT {
        return Err(Error::BadInput {
            reason: format!("{what} is larger than {MAX_INPUT} bytes"),
        });
    }
    String::from_utf8(buf).map_err(|_| Error::BadInput {
        reason: format!("{what} is not UTF-8"),
    })
}

/// `helper.json` (if present) plus `TOLLGATE_URL` / `TOLLGATE_SERVICE`.
pub fn config_from_env() -> Result<Config, Error> {
    let path = crate::cache::config_dir()?.join("helper.json");
    let mut config = match std::fs::File::open(&path) {
        Ok(f) => {
            let text = read_bounded(f, &path.display().to_string())?;
            Config::parse(&text).map_err(|reason| Error::Io {
                path: path.display().to_string(),
                reason,
            })?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Config::default(),
        Err(e) => return Err(Error::io(&path, &e)),
    };
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    config.env_url = var("TOLLGATE_URL");
    config.env_service = var("TOLLGATE_SERVICE");
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_failed_get_is_repeated_on_the_terminal() {
        let failed = Outcome::fail(&Error::Denied { host: "r".into() });
        let line = "tollgate: the sign-in for r was denied in the browser; nothing was stored";
        assert_eq!(terminal_echo(Action::Get, &failed, false), Some(line));
        assert_eq!(terminal_echo(Action::Get, &failed, true), None);
        assert_eq!(terminal_echo(Action::Erase, &failed, false), None);
        assert_eq!(
            terminal_echo(Action::Get, &Outcome::fail(&Error::NotFound), false),
            None
        );
        assert_eq!(
            terminal_echo(Action::Get, &Outcome::ok("{}".into()), false),
            None
        );
    }

    #[test]
    fn input_is_bounded_utf8() {
        assert_eq!(
            read_input(&b"127.0.0.1:5000\n"[..]).unwrap(),
            "127.0.0.1:5000\n"
        );
        assert!(read_input(&vec![b'a'; MAX_INPUT + 1][..])
            .unwrap_err()
            .to_string()
            .contains("larger than"));
        assert!(read_input(&[0xff, 0xfe][..])
            .unwrap_err()
            .to_string()
            .contains("not UTF-8"));
    }
}
