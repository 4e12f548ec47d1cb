//! The sign-in pages' shell (issue 14): the isolate's [`SignIn`] built once from the vars and
//! secrets, the token-endpoint POST of the code exchange, and request/response conversion. All
//! decisions are in `tollgate_core::signin`.

use crate::{binding, fetch, http, kv, now, random, KV_BINDING};
use std::cell::RefCell;
use std::rc::Rc;
use tollgate_core::config::ConfigError;
use tollgate_core::federation::{FetchError, Fetched};
use tollgate_core::protocol::{Flavor, HttpRequest};
use tollgate_core::signin::oidc::Post;
use tollgate_core::signin::settings::SignInSettings;
use tollgate_core::signin::{Io, SignIn};
use tollgate_core::token_service::{self, RequestContext, TokenService};
use worker::{console_error, console_log, web_sys, Env, Result};

pub(crate) use tollgate_core::signin::is_signin_path;

type Built = std::result::Result<Option<SignIn>, ConfigError>;

thread_local! {
    /// The isolate's sign-in (None: not configured), built on first use like the token service.
    static SIGNIN: RefCell<Option<Rc<Built>>> = const { RefCell::new(None) };
}

fn build(env: &Env, app: &TokenService) -> Built {
    let Some(settings) = SignInSettings::from_vars(|n| binding(env, n), &app.settings().services)?
    else {
        return Ok(None);
    };
    // Failed sign-ins go through the token service's throttle (`app`'s, passed per request).
    Ok(Some(SignIn::new(settings)))
}

fn signin(env: &Env, app: &TokenService) -> Rc<Built> {
    SIGNIN.with(|cell| {
        if let Some(s) = cell.borrow().as_ref() {
            return Rc::clone(s);
        }
        let built = Rc::new(build(env, app));
        if let Err(e) = built.as_ref() {
            console_error!("{}", e);
        }
        *cell.borrow_mut() = Some(Rc::clone(&built));
        built
    })
}

/// The code exchange: a form POST to the provider's token endpoint, redirects not followed.
struct WorkerPost;

impl Post for WorkerPost {
    async fn post_form(
        &self,
        url: &str,
        authorization: Option<&str>,
        body: &str,
    ) -> std::result::Result<Fetched, FetchError> {
        fetch::send_with_timeout(|signal| {
            let init = web_sys::RequestInit::new();
            init.set_method("POST");
            init.set_redirect(web_sys::RequestRedirect::Manual);
            init.set_signal(Some(signal));
            init.set_body(&body.into());
            let mut headers = vec![
                (
                    "content-type".to_string(),
                    "application/x-www-form-urlencoded".to_string(),
                ),
                ("accept".to_string(), "application/json".to_string()),
            ];
            if let Some(a) = authorization {
                headers.push(("authorization".to_string(), a.to_string()));
            }
            let h = http::js_headers(&headers)
                .map_err(|_| FetchError::Failed("the request headers could not be built".into()))?;
            init.set_headers(h.as_ref());
            web_sys::Request::new_with_str_and_init(url, &init)
                .map_err(|_| FetchError::Failed("the token endpoint could not be requested".into()))
        })
        .await
    }
}

/// The isolate's sign-in; `Err`: the response for a broken configuration.
fn configured(built: &Built) -> std::result::Result<Option<&SignIn>, web_sys::Response> {
    match built {
        Ok(s) => Ok(s.as_ref()),
        Err(e) => Err(http::to_web(token_service::config_error_response(e))
            .unwrap_or_else(|_| web_sys::Response::error())),
    }
}

/// The device grant of `POST /token` (RFC 8628), which sign-in answers. `None`: sign-in is not
/// configured, so the token service answers (unsupported_grant_type).
pub(crate) async fn device_token(
    hreq: &HttpRequest,
    env: &Env,
    app: &TokenService,
    ctx: &RequestContext<'_, kv::Kv<'_>, fetch::WorkerFetch>,
) -> Option<Result<web_sys::Response>> {
    let built = signin(env, app);
    let signin = match configured(&built) {
        Ok(s) => s?,
        Err(r) => return Some(Ok(r)),
    };
    let io = Io {
        app,
        ctx,
        post: &WorkerPost,
    };
    let (resp, log) = signin.device_token(hreq, &io).await;
    if let Some(line) = log {
        console_log!("{}", line);
    }
    Some(http::to_web(resp))
}

/// `None`: sign-in is not configured, the caller routes the path as before.
pub(crate) async fn handle(
    req: &web_sys::Request,
    head: &http::Head,
    env: &Env,
    app: &TokenService,
) -> Option<Result<web_sys::Response>> {
    let built = signin(env, app);
    let signin = match configured(&built) {
        Ok(s) => s?,
        Err(r) => return Some(Ok(r)),
    };
    // A copy: the router still holds the head (it routes on when sign-in is not configured),
    // and only sign-in pages pay for it.
    let hreq: HttpRequest = match http::with_body(req, head.request.clone()).await {
        Ok(r) => r,
        Err(e) => {
            return Some(http::to_web(
                e.to_response(Flavor::Distribution, &app.settings().issuer),
            ))
        }
    };
    let store = kv::Kv::new(env, KV_BINDING);
    let ctx = RequestContext::new(&store, &fetch::WorkerFetch, now(), &random::fill)
        .with_client_ip(hreq.header("cf-connecting-ip"));
    let io = Io {
        app,
        ctx: &ctx,
        post: &WorkerPost,
    };
    let (resp, log) = signin.handle(&hreq, &io).await;
    if let Some(line) = log {
        console_log!("{}", line);
    }
    Some(http::to_web(resp))
}
