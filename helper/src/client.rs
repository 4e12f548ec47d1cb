//! The device-flow client: find Tollgate for a registry, get a person's approval, cache and check
//! the credential. Used by `docker-credential-tollgate get` and by `tollgate login` / `logout`.
//! Every effect goes through the [`Transport`], [`Clock`] and [`Ui`] seams.

use std::path::PathBuf;
use std::time::Duration;

use crate::cache::{CacheDir, Cached};
use crate::device::{self, Authorization, Grant, Poll, Schedule};
use crate::discover::{self, Config, Tollgate};
use crate::error::Error;
use crate::http::{NetError, Reply, Transport};
use crate::protocol::RegistryHost;
use crate::terminal::{utc, Clock, Ui};

/// Bound on one request other than a poll (probe, device code, credential check).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Consecutive polls that may get no answer (or a 5xx) before giving up: a network blip during
/// the approval is survived, an outage is reported long before the code expires.
const MAX_POLL_FAILURES: u32 = 3;

/// The client id Tollgate shows on the approval page.
pub const HELPER_CLIENT_ID: &str = "docker-credential-tollgate";
pub const CLI_CLIENT_ID: &str = "tollgate-cli";

/// What a check of a cached credential at Tollgate said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Valid,
    /// 401: revoked on the account page, or expired.
    Refused,
    /// No answer or another status: the credential is still handed out (the registry will ask
    /// Tollgate itself), never erased on a guess.
    Unknown,
}

/// What Tollgate said to a revocation at sign-out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// Ended at Tollgate (200: also when it had already expired or been revoked).
    Revoked,
    /// Not confirmed (no answer, an error, an older Tollgate): why. The credential may still
    /// work until it expires.
    Failed(String),
}

/// The line for a sign-out whose revocation Tollgate did not confirm: the file is gone, the
/// credential may still work, and where to end it by hand.
pub fn not_revoked(host: &RegistryHost, cached: &Cached, why: &str) -> String {
    format!(
        "removed the cached credential of {} for {host}, but could not revoke it at Tollgate ({why}): \
         it stays valid until {} unless revoked on {}/account",
        cached.username,
        utc(cached.expires_at),
        cached.tollgate
    )
}

pub struct Client<'a> {
    pub transport: &'a dyn Transport,
    pub clock: &'a dyn Clock,
    pub ui: &'a dyn Ui,
    pub cache: &'a CacheDir,
    pub config: &'a Config,
    pub client_id: &'a str,
}

fn unreachable(url: &str, e: NetError) -> Error {
    Error::Unreachable {
        url: url.to_string(),
        reason: e.reason,
    }
}

impl Client<'_> {
    /// The Tollgate that issues credentials for `host`: configured, or from the registry's challenge.
    pub fn locate(&self, host: &RegistryHost) -> Result<Tollgate, Error> {
        let discovery = |reason: String| Error::Discovery {
            host: host.to_string(),
            reason,
        };
        if let Some(t) = self.config.explicit(host).map_err(discovery)? {
            return Ok(t);
        }
        let insecure = self.config.insecure(host);
        let probe = discover::probe_url(host, insecure);
        let reply = self
            .transport
            .get(&probe, None, REQUEST_TIMEOUT)
            .map_err(|e| discovery(format!("GET {probe}: {e}")))?;
        if reply.status != 401 {
            return Err(discovery(format!(
                "GET {probe} answered {} instead of a 401 challenge",
                reply.status
            )));
        }
        let mut t =
            discover::from_challenges(&reply.www_authenticate, insecure).map_err(discovery)?;
        if let Some(s) = self.config.service_override(host) {
            t.service = Some(s);
        }
        Ok(t)
    }

    /// Asks Tollgate whether a cached credential still works (`GET /token` with Basic).
    pub fn check(&self, cached: &Cached) -> Check {
        let mut url = format!("{}/token", cached.tollgate);
        if let Some(s) = &cached.service {
            url = url::Url::parse_with_params(&url, &[("service", s)])
                .map(String::from)
                .unwrap_or(url);
        }
        match self.transport.get(
            &url,
            Some((&cached.username, cached.password.expose())),
            REQUEST_TIMEOUT,
        ) {
            Ok(Reply { status: 200, .. }) => Check::Valid,
            Ok(Reply { status: 401, .. }) => Check::Refused,
            _ => Check::Unknown,
        }
    }

    /// `get`: a usable cached credential that Tollgate still accepts, else (when `interactive`) a
    /// new approval; otherwise "not found". A refused credential is erased and said so in one line.
    pub fn get(&self, host: &RegistryHost, interactive: bool) -> Result<Cached, Error> {
        if let Some(c) = self.cache.load(host)? {
            if c.usable(self.clock.now()) {
                match self.check(&c) {
                    Check::Valid | Check::Unknown => return Ok(c),
                    Check::Refused => {
                        self.cache.erase(host)?;
                        let revoked = Error::Revoked {
                            host: host.to_string(),
                        };
                        if !interactive {
                            return Err(revoked);
                        }
                        self.ui.show(&format!(
                            "tollgate: the credential for {host} was revoked or has expired; asking for a new approval."
                        ));
                    }
                }
            } else {
                self.cache.erase(host)?;
            }
        }
        if !interactive {
            return Err(Error::NotFound);
        }
        self.login(host).map(|(c, _)| c)
    }

    /// A new approval for `host`, cached (replacing any earlier one); returns it and the cache file.
    pub fn login(&self, host: &RegistryHost) -> Result<(Cached, PathBuf), Error> {
        let tollgate = self.locate(host)?;
        let grant = self.approve(host, &tollgate)?;
        let cached = Cached::new(
            host,
            &tollgate.base,
            tollgate.service.clone(),
            grant,
            self.clock.now(),
        );
        let path = self.cache.save(&cached)?;
        self.ui.show(&format!(
            "Signed in to {host} as {} until {}.",
            cached.username,
            utc(cached.expires_at)
        ));
        Ok((cached, path))
    }

    /// Signs out of `host`: revokes the cached credential at the Tollgate that issued it
    /// (`POST /oauth/revoke`, RFC 7009) and removes it from this machine. The file goes whatever
    /// Tollgate answers (the person asked for it); whether the credential also ended at Tollgate
    /// is returned, so the caller can say so. `None` when nothing was cached.
    pub fn logout(&self, host: &RegistryHost) -> Result<Option<(Cached, Revocation)>, Error> {
        let cached = self.cache.load(host).unwrap_or(None);
        let revocation = cached.as_ref().map(|c| self.revoke(c));
        let erased = self.cache.erase(host)?;
        Ok(match (erased, cached, revocation) {
            (true, Some(c), Some(r)) => Some((c, r)),
            _ => None,
        })
    }

    /// Asks the credential's Tollgate to revoke it.
    fn revoke(&self, cached: &Cached) -> Revocation {
        let url = format!("{}/oauth/revoke", cached.tollgate);
        let form = [
            ("token", cached.password.expose()),
            ("token_type_hint", "personal_credential"),
            ("client_id", self.client_id),
        ];
        match self.transport.post_form(&url, &form, REQUEST_TIMEOUT) {
            Ok(reply) if reply.status == 200 => Revocation::Revoked,
            Ok(reply) if reply.status == 404 => Revocation::Failed(format!(
                "{url} answered 404: this Tollgate has no revocation endpoint yet"
            )),
            Ok(reply) => Revocation::Failed(format!("{url}: {}", device::reply_reason(&reply))),
            Err(e) => Revocation::Failed(format!("{url}: {}", e.reason)),
        }
    }

    /// RFC 8628: ask for a code, show it, poll until approved, denied or expired.
    fn approve(&self, host: &RegistryHost, tollgate: &Tollgate) -> Result<Grant, Error> {
        let code_url = tollgate.url("/device/code");
        let reply = self
            .transport
            .post_form(
                &code_url,
                &device::code_form(self.client_id, tollgate.service.as_deref()),
                REQUEST_TIMEOUT,
            )
            .map_err(|e| unreachable(&tollgate.base, e))?;
        let auth = device::read_authorization(tollgate, &reply)?;
        self.ui.show(&device::instruction(host.as_str(), &auth));
        self.ui.open_browser(&auth.open_url);
        self.poll(host, tollgate, &auth)
    }

    fn poll(
        &self,
        host: &RegistryHost,
        tollgate: &Tollgate,
        auth: &Authorization,
    ) -> Result<Grant, Error> {
        let token_url = tollgate.url("/token");
        let form = device::poll_form(self.client_id, &auth.device_code);
        let mut schedule = Schedule::new(auth, self.clock.now());
        let mut failures = 0;
        let expired = || Error::Expired {
            host: host.to_string(),
            seconds: auth.expires_in,
        };
        loop {
            let wait = schedule.wait(self.clock.now()).ok_or_else(expired)?;
            self.clock.sleep(wait);
            // Nothing waits past the code's expiry (plus a second to read a last answer).
            let left = schedule.remaining(self.clock.now()).saturating_add(1);
            let timeout = REQUEST_TIMEOUT.min(Duration::from_secs(left));
            let reply = match self.transport.post_form(&token_url, &form, timeout) {
                Ok(r) if r.status < 500 => r,
                outcome => {
                    failures += 1;
                    if failures >= MAX_POLL_FAILURES {
                        return Err(match outcome {
                            Err(e) => unreachable(&tollgate.base, e),
                            Ok(r) => Error::Unreachable {
                                url: tollgate.base.clone(),
                                reason: format!("HTTP {} from /token", r.status),
                            },
                        });
                    }
                    continue;
                }
            };
            failures = 0;
            match device::read_poll(
                tollgate,
                &reply,
                host.as_str(),
                auth.expires_in,
                self.clock.now(),
            )? {
                Poll::Pending => {}
                Poll::SlowDown => schedule.slow_down(),
                Poll::Granted(g) => return Ok(g),
            }
        }
    }
}

#[cfg(test)]
mod tests;
