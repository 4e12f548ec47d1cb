//! `tollgate login HOST` / `tollgate logout HOST`: the credential helper's device flow by hand,
//! through the same client (tollgate-credential-helper), so a person can sign in ahead of a
//! `docker pull` or drop the cached credential.

use anyhow::Result;
use tollgate_credential_helper::app::config_from_env;
use tollgate_credential_helper::cache::CacheDir;
use tollgate_credential_helper::client::{not_revoked, Client, Revocation, CLI_CLIENT_ID};
use tollgate_credential_helper::http::Ureq;
use tollgate_credential_helper::protocol::RegistryHost;
use tollgate_credential_helper::terminal::{utc, SystemClock, Terminal};

fn with_client<T>(no_browser: bool, f: impl FnOnce(&Client<'_>) -> Result<T>) -> Result<T> {
    let config = config_from_env()?;
    let cache = CacheDir::from_env()?;
    let terminal = Terminal::open(no_browser);
    f(&Client {
        transport: &Ureq::default(),
        clock: &SystemClock,
        ui: &terminal,
        cache: &cache,
        config: &config,
        client_id: CLI_CLIENT_ID,
    })
}

/// A new approval for `host`, replacing any cached credential. The instruction and the
/// "Signed in ... as ... until ..." line go to the terminal; stdout gets the account name.
pub(crate) fn login(host: &str, no_browser: bool) -> Result<String> {
    let host = RegistryHost::parse(host)?;
    with_client(no_browser, |client| {
        let (cached, path) = client.login(&host)?;
        crate::note(&format!(
            "the credential is cached in {} (mode 0600) for docker-credential-tollgate until {}",
            path.display(),
            utc(cached.expires_at)
        ));
        Ok(format!("{}\n", cached.username))
    })
}

/// Signs out of `host`: revokes the cached credential at Tollgate and erases it here.
pub(crate) fn logout(host: &str) -> Result<String> {
    let host = RegistryHost::parse(host)?;
    with_client(true, |client| {
        Ok(match client.logout(&host)? {
            Some((c, Revocation::Revoked)) => format!(
                "signed out of {host}: the credential of {} is revoked at {} and removed from this machine\n",
                c.username, c.tollgate
            ),
            Some((c, Revocation::Failed(why))) => format!("{}\n", not_revoked(&host, &c, &why)),
            None => format!("no cached credential for {host}\n"),
        })
    })
}
