//! `docker-credential-tollgate`: Docker's credential-helper protocol over a browser approval.
//! Configure it per registry with `"credHelpers": {"<host>": "tollgate"}` (docker) or
//! `credential-helpers` / `credHelpers` (containers: podman, skopeo, buildah). See the README.

use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;

use tollgate_credential_helper::app::{self, Outcome};
use tollgate_credential_helper::cache::CacheDir;
use tollgate_credential_helper::client::{Client, HELPER_CLIENT_ID};
use tollgate_credential_helper::http::Ureq;
use tollgate_credential_helper::protocol::Action;
use tollgate_credential_helper::terminal::{Interactive, SystemClock, Terminal};
use tollgate_credential_helper::Error;

fn outcome() -> Outcome {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let action = match args.as_slice() {
        [a] => Action::parse(a),
        _ => Action::parse(""),
    };
    let action = match action {
        Ok(a) => a,
        Err(e) => return Outcome::fail(&e),
    };
    if action == Action::Version {
        return Outcome::ok(app::VERSION.into());
    }
    let input = match action {
        Action::Get | Action::Erase | Action::Store => match app::read_input(std::io::stdin()) {
            Ok(i) => i,
            Err(e) => return Outcome::fail(&e),
        },
        _ => String::new(),
    };
    let setup = || -> Result<_, Error> {
        let config = app::config_from_env()?;
        let cache = CacheDir::from_env()?;
        let mode = Interactive::parse(std::env::var("TOLLGATE_INTERACTIVE").ok().as_deref())
            .map_err(|reason| Error::BadInput { reason })?;
        Ok((config, cache, mode))
    };
    let (config, cache, mode) = match setup() {
        Ok(s) => s,
        Err(e) => return Outcome::fail(&e),
    };
    let terminal = Terminal::open(false);
    let client = Client {
        transport: &Ureq::default(),
        clock: &SystemClock,
        ui: &terminal,
        cache: &cache,
        config: &config,
        client_id: HELPER_CLIENT_ID,
    };
    let out = app::run(action, &input, &client, mode.allows(terminal.has_tty()));
    if let Some(line) = app::terminal_echo(action, &out, std::io::stdout().is_terminal()) {
        terminal.tell_tty(line);
    }
    out
}

fn main() -> ExitCode {
    let out = outcome();
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(out.stdout.as_bytes())
        .and_then(|()| stdout.flush());
    if out.code == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
