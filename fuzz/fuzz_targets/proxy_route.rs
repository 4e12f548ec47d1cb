//! The proxy's path-to-scope mapper: a request it lets through must name, in its challenge, scopes
//! the token endpoint can parse, and its path must hold nothing the origin could read as another
//! resource (no percent-encoding, no empty, `.` or `..` segment).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_core::proxy::check_access;
use tollgate_core::proxy::route::{
    cacheable, classify, required_access, ChartLayout, Required, MAX_CHART_DEPTH,
};
use tollgate_core::scope::Scope;

// Input: a request line `METHOD DEPTH PATH[?QUERY]` (DEPTH: chart namespace depth, one digit),
// as text so seeds are real requests.
fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let mut words = line.splitn(3, ' ');
    let (Some(method), Some(depth), Some(target)) = (words.next(), words.next(), words.next())
    else {
        return;
    };
    let depth: usize = depth.parse().unwrap_or(0);
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let depth = depth % (MAX_CHART_DEPTH + 1);
    let chart = ChartLayout::new(depth).unwrap();
    let endpoint = classify(path, &chart);
    let result = required_access(method, path, query, &chart);
    if let Err(e) = &result {
        assert!((400..500).contains(&e.status()));
        assert!(!e.message().is_empty());
    }
    if cacheable(method, path, &chart) {
        assert_eq!(method, "GET");
        assert!(endpoint.is_ok());
    }
    let Ok(required) = result else {
        return;
    };
    assert!(
        endpoint.is_ok(),
        "required_access passed a path classify refused"
    );
    // The forwarded path is exactly what was authorized: no encoding or dot segments to reinterpret.
    assert!(
        !path.contains('%'),
        "percent-encoded path let through: {:?}",
        path
    );
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        assert!(
            *seg != "." && *seg != ".." && (!seg.is_empty() || last),
            "path {:?} has an empty or dot segment",
            path
        );
    }
    match &required {
        Required::Authenticated => assert!(path == "/v2" || path == "/v2/"),
        Required::Access(list) => {
            assert!(
                !list.is_empty(),
                "an empty requirement would let anything through"
            );
            for a in list {
                assert!(!a.actions.is_empty(), "{a:?}");
                // The challenge's scope must be one the token endpoint accepts, naming the same
                // resource and actions, or clients could never obtain a token for the request.
                let text = format!("{}:{}:{}", a.resource_type, a.name, a.actions.join(","));
                let s = Scope::parse(&text)
                    .unwrap_or_else(|e| panic!("challenge scope {text:?} does not parse: {e}"));
                assert_eq!(
                    (s.resource_type.as_str(), s.name.as_str()),
                    (a.resource_type.as_str(), a.name.as_str())
                );
                let mut want = a.actions.clone();
                want.sort();
                assert_eq!(s.actions, want);
            }
            // A token holding exactly the requirement passes the gate; one missing any action fails.
            assert!(check_access(list, &required).is_ok());
            assert!(check_access(&[], &required).is_err());
            let mut short = list.clone();
            short[0].actions.pop();
            assert!(check_access(&short, &required).is_err());
            assert_eq!(
                required.scope_param().split(' ').count(),
                list.len(),
                "scope_param must be space-separated, one per entry"
            );
        }
    }
});
