//! `GET /login` and `GET /login/callback`: the authorization request and every check of the
//! provider's answer (see the module documentation of `signin` for the order).

use super::*;
use crate::token_service::AuthError;

impl SignIn {
    async fn provider_endpoints(
        &self,
        p: &Provider,
        fetch: &impl Fetch,
        now: u64,
    ) -> Result<Endpoints, SignInError> {
        if let Some(e) = self.endpoints.borrow().get(p.name.as_str(), now) {
            return Ok(e.clone());
        }
        let e = oidc::endpoints(p, fetch)
            .await
            .map_err(|why| SignInError::Unavailable(format!("provider '{}': {why}", p.name)))?;
        let until = now.saturating_add(ENDPOINTS_TTL);
        self.endpoints
            .borrow_mut()
            .insert(p.name.clone(), e.clone(), until, now);
        Ok(e)
    }

    /// `GET /login`.
    pub(super) async fn start<S: Store, F: Fetch, P: Post>(
        &self,
        req: &HttpRequest,
        io: &Io<'_, '_, S, F, P>,
    ) -> Answer {
        let chosen = param(&req.query, "provider");
        let next = param(&req.query, "next").and_then(|n| device::return_path(&n));
        let provider = match (&chosen, self.settings.providers.as_slice()) {
            (Some(name), _) => self.settings.provider(name),
            (None, [only]) => Some(only),
            (None, list) => return (html(200, page::providers(list, next.as_deref())), None),
        };
        let Some(p) = provider else {
            return (
                html(
                    404,
                    page::message(
                        "Unknown provider",
                        "There is no such sign-in provider.",
                        Some(("/login", "Choose a provider")),
                    ),
                ),
                None,
            );
        };
        let ep = match self.provider_endpoints(p, io.ctx.fetch, io.ctx.now).await {
            Ok(e) => e,
            Err(e) => return self.unavailable(&e.to_string()),
        };
        let mut parts = [[0u8; 32]; 3];
        for part in &mut parts {
            match io.ctx.random::<32>() {
                Ok(b) => *part = b,
                Err(e) => return self.unavailable(&e.to_string()),
            }
        }
        let pending = Pending {
            p: p.name.clone(),
            state: oidc::random_text(&parts[0]),
            nonce: oidc::random_text(&parts[1]),
            v: oidc::random_text(&parts[2]),
            e: io.ctx.now + PENDING_TTL,
            r: next,
        };
        let url = match oidc::authorization_url(p, &ep, &self.settings.redirect_uri(), &pending) {
            Ok(u) => u,
            Err(e) => return self.unavailable(&e),
        };
        let Some(sealed) = self.sealer.seal(Purpose::Login, &pending) else {
            return self.unavailable("the login cookie could not be made");
        };
        (
            HttpResponse::text(302, "text/plain; charset=utf-8", "")
                .with_header("location", url)
                .with_header("set-cookie", self.set_login(&sealed, PENDING_TTL)),
            None,
        )
    }

    /// `GET /login/callback`.
    pub(super) async fn callback<S: Store, F: Fetch, P: Post>(
        &self,
        req: &HttpRequest,
        io: &Io<'_, '_, S, F, P>,
    ) -> Answer {
        let clear_login = self.set_login("", 0);
        let checked = crate::token_service::check_sign_in(io.app, io.ctx, async {
            Ok(self.finish(req, io).await?)
        })
        .await;
        match checked {
            Ok((person, next)) => {
                let sid = match io.ctx.random::<32>() {
                    Ok(b) => oidc::random_text(&b),
                    Err(e) => return self.unavailable(&e.to_string()),
                };
                let session = Session {
                    sid,
                    p: person.provider.clone(),
                    a: person.account.clone(),
                    g: person.groups.clone(),
                    e: io.ctx.now + self.settings.session_ttl,
                };
                let Some(sealed) = self.sealer.seal(Purpose::Session, &session) else {
                    return self
                        .unavailable("the session does not fit in a cookie (too many groups?)");
                };
                (
                    redirect(next.as_deref().unwrap_or(AFTER_SIGNIN))
                        .with_header("set-cookie", clear_login)
                        .with_header(
                            "set-cookie",
                            self.set_session(&sealed, self.settings.session_ttl),
                        ),
                    Some(format!(
                        "signin ok provider={} account={} groups={}",
                        person.provider,
                        person.account,
                        person.groups.join(",")
                    )),
                )
            }
            Err(AuthError::Throttled { retry_after }) => (
                throttled(retry_after).with_header("set-cookie", clear_login),
                Some("signin refused: throttled".into()),
            ),
            Err(AuthError::Rejected(why)) => (
                html(
                    401,
                    page::message("Sign-in failed", &why, Some(("/login", "Sign in again"))),
                )
                .with_header("set-cookie", clear_login),
                Some(format!("signin refused: {why}")),
            ),
            Err(e) => {
                let (r, log) = self.unavailable(&e.to_string());
                (r.with_header("set-cookie", clear_login), log)
            }
        }
    }

    async fn finish<S: Store, F: Fetch, P: Post>(
        &self,
        req: &HttpRequest,
        io: &Io<'_, '_, S, F, P>,
    ) -> Result<(Person, Option<String>), SignInError> {
        let denied = |m: &str| SignInError::Denied(m.to_string());
        if let Some(e) = param(&req.query, "error") {
            return Err(SignInError::Denied(format!(
                "the provider did not sign you in ({})",
                shown(&e)
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect::<String>()
            )));
        }
        let pending: Pending = cookie(req.header("cookie"), LOGIN_COOKIE)
            .and_then(|c| self.sealer.open(Purpose::Login, c))
            .ok_or_else(|| denied("no sign-in was started in this browser (or its cookie was altered): start again"))?;
        if pending.e <= io.ctx.now {
            return Err(denied("the sign-in took more than 10 minutes: start again"));
        }
        let state = param(&req.query, "state").unwrap_or_default();
        if !crate::credentials::constant_time_eq(state.as_bytes(), pending.state.as_bytes()) {
            return Err(denied("the state does not match this browser's sign-in (possible cross-site request): start again"));
        }
        let code = param(&req.query, "code")
            .filter(|c| !c.is_empty() && c.len() <= 2048)
            .ok_or_else(|| denied("the provider's answer has no code"))?;
        let p = self
            .settings
            .provider(&pending.p)
            .ok_or_else(|| denied("the provider of this sign-in is no longer configured"))?;
        // Single use of this answer, before the code is sent anywhere: the marker outlives the
        // login cookie. KV is eventually consistent, so the provider's own single-use rule on
        // codes (which every OIDC provider enforces) remains the backstop.
        let used = format!("signin-used:{}", secret_digest(&pending.state));
        let store_err = |e: crate::store::StoreError| SignInError::Unavailable(e.to_string());
        if io.ctx.store.get(&used).await.map_err(store_err)?.is_some() {
            return Err(denied(
                "this sign-in answer was already used (code replay): start again",
            ));
        }
        io.ctx
            .store
            .put(&used, "1", Some(PENDING_TTL))
            .await
            .map_err(store_err)?;
        let ep = self.provider_endpoints(p, io.ctx.fetch, io.ctx.now).await?;
        let id_token = oidc::exchange(
            p,
            &ep,
            io.post,
            &code,
            &pending.v,
            &self.settings.redirect_uri(),
        )
        .await?;
        let person = oidc::verify_id_token(
            p,
            &id_token,
            &pending.nonce,
            &self.keys,
            io.ctx.fetch,
            io.ctx.now,
        )
        .await?;
        if self.user_record(io, &person.account).await?.disabled {
            return Err(SignInError::Denied(format!(
                "account '{}' is disabled",
                person.account
            )));
        }
        // The sealed return path is checked again: only the allow-list ever leaves here.
        Ok((person, pending.r.as_deref().and_then(device::return_path)))
    }
}

fn throttled(after: u64) -> HttpResponse {
    html(
        429,
        page::message(
            "Too many attempts",
            &format!("Too many failed sign-ins from your address: try again in {after} seconds."),
            None,
        ),
    )
    .with_header("retry-after", after.to_string())
}
