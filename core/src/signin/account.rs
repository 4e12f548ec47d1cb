//! `GET /account` and the three forms (create, revoke, sign out): session, CSRF and Origin
//! first, then the person's credentials and what the ACL lets them do.

use super::*;

impl SignIn {
    /// `GET /account` (also the page after a form).
    pub(super) async fn account<S: Store, F: Fetch, P: Post>(
        &self,
        req: &HttpRequest,
        io: &Io<'_, '_, S, F, P>,
        outcome: Option<Outcome>,
    ) -> Answer {
        let Some(s) = self.session(req, io.ctx.now) else {
            return (redirect("/login"), None);
        };
        let user = match self.user_record(io, &s.a).await {
            Ok(u) if u.disabled => {
                return (
                    html(
                        403,
                        page::message(
                            "Account disabled",
                            &format!("The account '{}' is disabled.", s.a),
                            None,
                        ),
                    )
                    .with_header("set-cookie", self.set_session("", 0)),
                    Some(format!("signin page refused: account {} is disabled", s.a)),
                )
            }
            Ok(u) => u,
            Err(e) => return self.unavailable(&e.to_string()),
        };
        let mut groups = s.g.clone();
        groups.extend(user.groups.iter().cloned());
        groups.sort();
        groups.dedup();
        let principal = Principal::user(&s.a, &groups, &user.labels);
        let service = &self.settings.service;
        let acl = match io.ctx.store.get("acl").await {
            Ok(Some(t)) => match Acl::from_json(&t) {
                Ok(a) => a,
                Err(e) => return self.unavailable(&format!("the stored ACL is malformed ({e})")),
            },
            Ok(None) => Acl::default(),
            Err(e) => return self.unavailable(&e.to_string()),
        };
        let rules = acl
            .rules_for(&principal, service)
            .into_iter()
            .map(|(i, r)| describe(i, r, &s.a))
            .collect();
        let explained = param(&req.query, "scope")
            .filter(|v| !v.trim().is_empty())
            .map(|asked| {
                let lines = match parse_scopes([asked.as_str()]) {
                    Err(e) => vec![e.to_string()],
                    Ok(scopes) => acl
                        .explain(&principal, service, &scopes)
                        .into_iter()
                        .flat_map(|d| {
                            vec![
                                d.scope.to_string(),
                                format!("  granted: {}", list(&d.granted)),
                                format!("  refused: {}", list(&d.refused)),
                                format!("  why:     {}", d.reason),
                            ]
                        })
                        .collect(),
                };
                (asked, lines)
            });
        let credentials = match credentials::list(io.ctx.store, &s.a, io.ctx.now).await {
            Ok(c) => c,
            Err(e) => return self.unavailable(&e.to_string()),
        };
        let csrf = self.sealer.csrf_token(&s.sid);
        let (created, notice, error, status) = match outcome {
            None => (None, None, None, 200),
            Some(Outcome::Created(c)) => (Some(c), None, None, 200),
            Some(Outcome::Notice(n)) => (None, Some(n), None, 200),
            Some(Outcome::Error(e)) => (None, None, Some(e), 400),
        };
        let view = page::AccountView {
            account: &s.a,
            provider: self
                .settings
                .provider(&s.p)
                .map(Provider::label)
                .unwrap_or(&s.p),
            groups: &groups,
            csrf: &csrf,
            service,
            registry: &self.settings.registry_host,
            max_days: self.settings.max_days,
            rules,
            explained,
            credentials,
            created,
            notice,
            error,
        };
        (html(status, page::account(&view)), None)
    }

    /// A form's session, after its CSRF token (and Origin) checked out; else the refusal.
    pub(super) fn form_session<'q>(
        &self,
        req: &'q HttpRequest,
        now: u64,
    ) -> Result<(Session, &'q str), Answer> {
        let Some(s) = self.session(req, now) else {
            return Err((
                html(
                    401,
                    page::message(
                        "Signed out",
                        "Your session has ended: sign in again.",
                        Some(("/login", "Sign in")),
                    ),
                ),
                None,
            ));
        };
        let form = std::str::from_utf8(&req.body).unwrap_or("");
        let origin_ok = req
            .header("origin")
            .is_none_or(|o| self.same_origin(req, o));
        let csrf_ok = param(form, "csrf").is_some_and(|t| self.sealer.csrf_ok(&s.sid, &t));
        if !origin_ok || !csrf_ok || req.body_too_large {
            return Err((
                html(403, page::message("Refused", "This form did not come from your account page (CSRF check failed). Reload the page and try again.", Some(("/account", "Your account")))),
                Some(format!(
                    "signin form refused for {}: {}",
                    s.a,
                    if origin_ok {
                        "CSRF token missing or wrong".to_string()
                    } else {
                        format!(
                            "Origin {} is neither SIGNIN_URL nor this host ({})",
                            shown(req.header("origin").unwrap_or("")),
                            shown(req.header("host").unwrap_or("no Host header"))
                        )
                    }
                )),
            ));
        }
        Ok((s, form))
    }

    /// The three forms. Session, then CSRF (and Origin), before anything else.
    pub(super) async fn post<S: Store, F: Fetch, P: Post>(
        &self,
        req: &HttpRequest,
        io: &Io<'_, '_, S, F, P>,
    ) -> Answer {
        let (s, form) = match self.form_session(req, io.ctx.now) {
            Ok(v) => v,
            Err(refused) => return refused,
        };
        match req.path.as_str() {
            "/logout" => (
                html(200, page::message("Signed out", "You are signed out. Your credentials keep working until they expire or you revoke them.", Some(("/login", "Sign in again"))))
                    .with_header("set-cookie", self.set_session("", 0)),
                Some(format!("signout account={}", s.a)),
            ),
            "/account/credentials" => {
                let person = Person { provider: s.p.clone(), account: s.a.clone(), groups: s.g.clone() };
                let name = param(form, "name").unwrap_or_default();
                let days = param(form, "days").and_then(|d| d.trim().parse::<u64>().ok()).unwrap_or(0);
                let disabled = match self.user_record(io, &s.a).await {
                    Ok(u) => u.disabled,
                    Err(e) => return self.unavailable(&e.to_string()),
                };
                if disabled {
                    return self.account(req, io, Some(Outcome::Error(format!("account '{}' is disabled", s.a)))).await;
                }
                let random = match io.ctx.random::<32>() {
                    Ok(b) => b,
                    Err(e) => return self.unavailable(&e.to_string()),
                };
                match credentials::create(io.ctx.store, &person, &name, days, self.settings.max_days, &random, io.ctx.now).await {
                    Ok((secret, entry)) => {
                        let log = format!("signin credential created account={} name={} expires={}", s.a, shown(&entry.name), entry.expires);
                        let (r, _) = self.account(req, io, Some(Outcome::Created(page::NewCredential { secret, entry }))).await;
                        (r, Some(log))
                    }
                    Err(e) => self.account(req, io, Some(Outcome::Error(e.to_string()))).await,
                }
            }
            _ => {
                let id = param(form, "id").unwrap_or_default();
                match credentials::revoke(io.ctx.store, &s.a, &id, self.settings.max_days, io.ctx.now).await {
                    Ok(gone) => {
                        // Revoked here at once; other isolates drop it within CACHE_TTL.
                        io.app.forget_personal(&gone.id);
                        let log = format!("signin credential revoked account={} name={}", s.a, shown(&gone.name));
                        let (r, _) = self.account(req, io, Some(Outcome::Notice(format!("Revoked “{}”.", gone.name)))).await;
                        (r, Some(log))
                    }
                    Err(e) => self.account(req, io, Some(Outcome::Error(e.to_string()))).await,
                }
            }
        }
    }
}

/// What a form did, for the page that follows.
pub(super) enum Outcome {
    Created(page::NewCredential),
    Notice(String),
    Error(String),
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "-".into()
    } else {
        items.join(", ")
    }
}
