//! `request.cf`: what Cloudflare's edge says about the client (country, ASN, colo).
//!
//! workers-rs's `Request` reads the whole `cf` object on every request, which showed up in CPU
//! profiles (src/http.rs); this reads it once per request, and only the fields Tollgate uses:
//! the country for network-bound credentials (issue 16) and country, ASN and colo for the pull
//! ledger. Under Miniflare/wrangler dev the object is a local placeholder or absent.

use worker::js_sys::Reflect;
use worker::wasm_bindgen::JsValue;
use worker::web_sys;

/// The fields of `request.cf` Tollgate reads. Absent off Cloudflare.
#[derive(Debug, Clone, Default)]
pub(crate) struct Edge {
    pub country: Option<String>,
    pub asn: Option<u64>,
    pub colo: Option<String>,
}

/// Longest value kept (country codes are 2, colos 3: anything longer is not what we expect).
const MAX_FIELD: usize = 16;

pub(crate) fn edge(req: &web_sys::Request) -> Edge {
    let Ok(cf) = Reflect::get(req.as_ref(), &JsValue::from_str("cf")) else {
        return Edge::default();
    };
    if !cf.is_object() {
        return Edge::default();
    }
    let text = |name: &str| {
        Reflect::get(&cf, &JsValue::from_str(name))
            .ok()
            .and_then(|v| v.as_string())
            .filter(|s| s.len() <= MAX_FIELD)
    };
    Edge {
        country: text("country"),
        asn: Reflect::get(&cf, &JsValue::from_str("asn"))
            .ok()
            .and_then(|v| v.as_f64())
            .filter(|n| n.is_finite() && *n >= 0.0 && *n <= f64::from(u32::MAX))
            .map(|n| n as u64),
        colo: text("colo"),
    }
}
