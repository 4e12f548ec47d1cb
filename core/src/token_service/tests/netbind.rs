//! Network-bound API keys through the whole token flow (issue 16): refused from elsewhere at
//! issuance, the issued token and any refresh token carry the binding, the proxy's Basic check
//! refuses too.

use super::*;

/// Stores CI_KEY's record (account ci-bot) with `net` as its network binding.
fn bind_ci_key(s: &MemoryStore, net: Value) {
    let record = json!({"account": "ci-bot", "name": "ci", "created": 1, "net": net});
    put(s, &api_key_key(CI_KEY), record);
}

/// CI_KEY bound to 127.0.0.1/32 and 2001:db8::/32 (as `tollgate apikey create --allow-net`).
fn bound_store() -> MemoryStore {
    let s = store();
    bind_ci_key(&s, json!({"cidrs": ["127.0.0.1/32", "2001:db8::/32"]}));
    s
}

fn ci_get(ip: Option<&str>, extra: &str) -> HttpRequest {
    let req = get_as(
        &format!("service=registry.local&scope=repository:org/a:pull{extra}"),
        "ci-bot",
        CI_KEY,
    );
    match ip {
        Some(ip) => req.with_header("cf-connecting-ip", ip),
        None => req,
    }
}

#[test]
fn bound_key_is_refused_from_elsewhere_and_its_token_carries_the_binding() {
    let svc = Svc::with(app(), bound_store());
    for ip in ["127.0.0.1", "2001:db8:5::1"] {
        let (r, ev) = svc.run(ci_get(Some(ip), ""));
        // The key's name is in the audit line (tollgate audit follows a credential by it).
        assert_eq!(ev.unwrap().credential_name.as_deref(), Some("ci"));
        assert_eq!(r.status, 200, "{ip}: {}", String::from_utf8_lossy(&r.body));
        let claims = verify(body(&r)["token"].as_str().unwrap());
        assert_eq!(
            claims["net"],
            json!({"cidrs": ["127.0.0.1/32", "2001:db8::/32"]})
        );
    }
    for ip in [Some("127.0.0.2"), Some("2001:db9::1"), Some("junk"), None] {
        let (r, ev) = svc.run(ci_get(ip, ""));
        assert_eq!(r.status, 403, "{ip:?}");
        let msg = body(&r)["errors"][0]["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(msg.contains("bound to"), "{msg}");
        assert!(
            !msg.contains("127.0.0.1/32"),
            "never the allowed list: {msg}"
        );
        let ev = ev.unwrap();
        assert_eq!(ev.outcome, Outcome::Refused);
        assert!(ev.jti.is_none() && ev.granted.is_empty());
        // The refused line still names the (genuine) credential: `tollgate audit credential`.
        assert_eq!(
            (
                ev.account.as_deref(),
                ev.credential,
                ev.credential_name.as_deref()
            ),
            (Some("ci-bot"), Some("api_key"), Some("ci"))
        );
    }
    // An unbound credential's token has no `net` claim at all.
    let (r, _) = svc.run(get_as("service=registry.local", "alice", "alice-pw"));
    assert!(verify(body(&r)["token"].as_str().unwrap())
        .get("net")
        .is_none());
}

/// Runs `req` as the worker does, with `country` as `request.cf.country`; also returns how
/// many times the country was read (the worker's `cf` getter is a runtime call per read).
fn run_from(
    app: &TokenService,
    s: &MemoryStore,
    req: &HttpRequest,
    country: Option<&str>,
) -> (u16, usize) {
    let reads = std::cell::Cell::new(0);
    let read = || {
        reads.set(reads.get() + 1);
        country.map(str::to_string)
    };
    let rng = counter_rng();
    let ctx = RequestContext::new(s, &crate::federation::NoFetch, NOW, &rng)
        .with_client_ip(req.header("cf-connecting-ip"))
        .with_country_from(&read);
    let status = block_on(app.handle(req, &ctx)).0.status;
    (status, reads.get())
}

#[test]
fn country_binding_needs_the_runtimes_country() {
    let (app, s) = (app(), store());
    bind_ci_key(&s, json!({"countries": ["DE"]}));
    let req = ci_get(Some("198.51.100.1"), "");
    assert_eq!(
        run_from(&app, &s, &req, None),
        (403, 1),
        "no country: closed"
    );
    assert_eq!(
        run_from(&app, &s, &req, Some(" ")),
        (403, 1),
        "blank: closed"
    );
    assert_eq!(run_from(&app, &s, &req, Some("FR")), (403, 1));
    assert_eq!(run_from(&app, &s, &req, Some("DE")), (200, 1));
}

#[test]
fn an_unbound_credential_never_reads_the_country() {
    let (app, s) = (app(), store());
    for req in [
        ci_get(Some("198.51.100.1"), ""),
        get_as("service=registry.local", "alice", "alice-pw"),
        get("service=registry.local"),
    ] {
        assert_eq!(run_from(&app, &s, &req, Some("DE")), (200, 0));
    }
}

#[test]
fn refresh_tokens_minted_with_a_bound_key_stay_bound() {
    let svc = Svc::with(app(), bound_store());
    let (r, _) = svc.run(ci_get(
        Some("127.0.0.1"),
        "&offline_token=true&client_id=docker",
    ));
    assert_eq!(r.status, 200);
    let rt = body(&r)["refresh_token"].as_str().unwrap().to_string();
    let record: Value =
        serde_json::from_str(&svc.store.data.borrow()[&format!("refresh:{}", sha256_hex(&rt))])
            .unwrap();
    assert_eq!(record["net"]["cidrs"][0], "127.0.0.1/32");
    let refresh = |ip: &str| {
        post(
            "/token",
            &format!("grant_type=refresh_token&refresh_token={rt}&service=registry.local"),
        )
        .with_header("cf-connecting-ip", ip)
    };
    assert_eq!(svc.run(refresh("127.0.0.1")).0.status, 200);
    assert_eq!(svc.run(refresh("127.0.0.2")).0.status, 403);
}

#[test]
fn the_proxys_basic_check_refuses_a_bound_key_from_elsewhere() {
    let svc = Svc::with(app(), bound_store());
    let want = pull_org_a();
    let grant = |ip: &'static str| {
        let ctx = ctx_of(&svc.store, Some(ip));
        block_on(
            svc.app
                .grant_basic(&basic("ci-bot", CI_KEY), REG, &want, &ctx),
        )
    };
    assert_eq!(grant("127.0.0.1").unwrap().1[0].actions, ["pull"]);
    assert_eq!(
        grant("127.0.0.2").unwrap_err(),
        AuthError::Network {
            refusal: crate::netbind::NetRefusal::Network("127.0.0.2".parse().unwrap()),
            account: "ci-bot".into(),
            via: "api_key",
            key_name: Some("ci".into()),
        }
    );
}

#[test]
fn a_malformed_binding_in_kv_grants_nothing() {
    let svc = Svc::new();
    bind_ci_key(&svc.store, json!({"cidrs": ["10.0.0.0/40"]}));
    assert_eq!(svc.run(ci_get(Some("10.0.0.1"), "")).0.status, 500);
}
