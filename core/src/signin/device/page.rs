//! The approval pages: the code entry form, the confirmation (which client, which registry,
//! how long) with Approve and Deny, and the outcome. Same rules as the other sign-in pages:
//! server-rendered, no scripts, labelled inputs, every value escaped.

use super::super::page::{escape, layout};
use std::fmt::Write as _;

/// The code entry form, prefilled with what was typed (or the link's code) and the reason it
/// was refused, if it was.
pub fn entry(prefill: &str, error: Option<&str>) -> String {
    let mut b = String::new();
    if let Some(e) = error {
        let _ = write!(b, "<p class=\"err\" role=\"alert\">{}</p>", escape(e));
    }
    let _ = write!(
        b,
        "<p>Enter the code your device shows to let it use the registry as you.</p>\
         <form method=\"get\" action=\"/device\"><label for=\"user_code\">Code (like BCDF-GHJK)</label>\
         <input id=\"user_code\" name=\"user_code\" required maxlength=\"32\" autocomplete=\"off\" \
         autocapitalize=\"characters\" spellcheck=\"false\" value=\"{}\">\
         <button type=\"submit\" id=\"continue\">Continue</button></form>\
         <p><a href=\"/account\">Your account</a></p>",
        escape(prefill)
    );
    layout("Device login", &b)
}

/// What the person approves.
pub struct Confirm<'a> {
    /// `XXXX-XXXX`.
    pub user_code: &'a str,
    pub client_id: &'a str,
    pub registry: &'a str,
    pub service: &'a str,
    pub account: &'a str,
    /// The credential's lifetime in seconds.
    pub lifetime: u64,
    pub csrf: &'a str,
}

/// `8 hours`, `90 minutes`.
pub fn duration(secs: u64) -> String {
    match secs {
        s if s % 3600 == 0 => format!("{} hour{}", s / 3600, if s == 3600 { "" } else { "s" }),
        s => format!("{} minutes", s.div_ceil(60)),
    }
}

pub fn confirm(v: &Confirm) -> String {
    let mut b = String::new();
    let _ = write!(
        b,
        "<p>A device asks to use the registry as you. Approve only if you started this login \
         yourself and your device shows this same code.</p>\
         <dl><dt>Code</dt><dd id=\"user-code\">{code}</dd>\
         <dt>Client asking</dt><dd id=\"client\">{client}</dd>\
         <dt>Registry</dt><dd id=\"registry\">{registry} (service {service})</dd>\
         <dt>As</dt><dd id=\"account\">{account}</dd>\
         <dt>It gets</dt><dd id=\"lifetime\">a registry credential valid for {life}, with your access; \
         you can revoke it on your account page</dd></dl>\
         <form method=\"post\" action=\"/device\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <input type=\"hidden\" name=\"user_code\" value=\"{code}\">\
         <button type=\"submit\" name=\"decision\" value=\"approve\" id=\"approve\">Approve</button> \
         <button type=\"submit\" name=\"decision\" value=\"deny\" id=\"deny\">Deny</button></form>",
        code = escape(v.user_code),
        client = escape(v.client_id),
        registry = escape(v.registry),
        service = escape(v.service),
        account = escape(v.account),
        life = escape(&duration(v.lifetime)),
        csrf = escape(v.csrf),
    );
    layout("Approve this device?", &b)
}

/// The outcome of a decision.
pub fn done(title: &str, text: &str) -> String {
    layout(
        title,
        &format!(
            "<p class=\"note\" role=\"status\" id=\"result\">{}</p><p><a href=\"/account\">Your account</a></p>",
            escape(text)
        ),
    )
}
