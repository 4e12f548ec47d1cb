//! The sign-in pages: server-rendered HTML, no scripts, one same-origin stylesheet, every value
//! escaped. Forms work without JavaScript; labels are tied to their inputs; the new credential
//! sits in a `<pre>` ready to copy.

use super::credentials::IndexEntry;
use super::settings::Provider;
use std::fmt::Write as _;

/// Every page's security headers: nothing but our own stylesheet and forms to ourselves, never
/// framed, never cached, no referrer leaking the callback's query.
pub(crate) const CSP: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                       frame-ancestors 'none'; base-uri 'none'";

pub(crate) const STYLE: &str = "body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}\
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem}\
pre{background:#f3f3f3;padding:.6rem;white-space:pre-wrap;overflow-wrap:anywhere}\
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3rem;border-bottom:1px solid #ccc}\
.note{background:#fff6d5;padding:.6rem}.err{background:#fde2e1;padding:.6rem}\
label{display:block;margin-top:.5rem}input{font:inherit}button,a.btn{font:inherit;margin-top:.5rem}";

/// HTML text escaping (the five characters that matter in text and attribute values).
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// POSIX shell single-quoting.
fn sh(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// `2026-12-05 21:10 UTC`. Through the date's fields rather than chrono's `format`, whose
/// format-string machinery costs several KB of wasm.
pub fn date(t: u64) -> String {
    use chrono::{Datelike as _, Timelike as _};
    chrono::DateTime::from_timestamp(t as i64, 0)
        .map(|d| {
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02} UTC",
                d.year(),
                d.month(),
                d.day(),
                d.hour(),
                d.minute()
            )
        })
        .unwrap_or_default()
}

pub(crate) fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{t} - Tollgate</title><link rel=\"stylesheet\" href=\"/account/style.css\"></head>\
         <body><main><h1>{t}</h1>{body}</main></body></html>",
        t = escape(title)
    )
}

/// The provider choice (several providers); `next`: the device page to return to.
pub fn providers(list: &[Provider], next: Option<&str>) -> String {
    let next = next
        .map(|n| {
            format!(
                "&next={}",
                form_urlencoded::byte_serialize(n.as_bytes()).collect::<String>()
            )
        })
        .unwrap_or_default();
    let mut b = String::from("<p>Choose how to sign in:</p><ul>");
    for p in list {
        let _ = write!(
            b,
            "<li><a href=\"/login?provider={}{}\">Sign in with {}</a></li>",
            escape(&p.name),
            escape(&next),
            escape(p.label())
        );
    }
    b.push_str("</ul>");
    layout("Sign in to the registry", &b)
}

pub(crate) fn message(title: &str, text: &str, link: Option<(&str, &str)>) -> String {
    let mut b = format!("<p class=\"err\" role=\"alert\">{}</p>", escape(text));
    if let Some((href, label)) = link {
        let _ = write!(
            b,
            "<p><a href=\"{}\">{}</a></p>",
            escape(href),
            escape(label)
        );
    }
    layout(title, &b)
}

/// A credential just made: shown once.
pub(crate) struct NewCredential {
    pub secret: String,
    pub entry: IndexEntry,
}

/// Everything the account page shows.
pub(crate) struct AccountView<'a> {
    pub account: &'a str,
    pub provider: &'a str,
    pub groups: &'a [String],
    pub csrf: &'a str,
    pub service: &'a str,
    pub registry: &'a str,
    pub max_days: u64,
    /// "rule #N ..." lines from the ACL.
    pub rules: Vec<String>,
    /// The scope typed into the explain form and its decision lines.
    pub explained: Option<(String, Vec<String>)>,
    pub credentials: Vec<IndexEntry>,
    pub created: Option<NewCredential>,
    pub notice: Option<String>,
    pub error: Option<String>,
}

fn login_commands(v: &AccountView, secret: &str) -> String {
    let (host, user, key) = (sh(v.registry), sh(v.account), sh(secret));
    format!(
        "printf '%s' {key} | docker login {host} --username {user} --password-stdin\n\
         printf '%s' {key} | podman login {host} --username {user} --password-stdin\n\
         printf '%s' {key} | helm registry login {host} --username {user} --password-stdin"
    )
}

fn csrf_field(csrf: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        escape(csrf)
    )
}

pub(crate) fn account(v: &AccountView) -> String {
    let mut b = String::new();
    if let Some(n) = &v.notice {
        let _ = write!(b, "<p class=\"note\" role=\"status\">{}</p>", escape(n));
    }
    if let Some(e) = &v.error {
        let _ = write!(b, "<p class=\"err\" role=\"alert\">{}</p>", escape(e));
    }
    if let Some(c) = &v.created {
        let _ = write!(
            b,
            "<section aria-labelledby=\"new\"><h2 id=\"new\">Your new credential &ldquo;{name}&rdquo;</h2>\
             <p class=\"note\">Copy it now: it is shown only this once. It expires {exp}.</p>\
             <pre id=\"secret\">{secret}</pre><p>Log in with it:</p><pre>{cmds}</pre></section>",
            name = escape(&c.entry.name),
            exp = escape(&date(c.entry.expires)),
            secret = escape(&c.secret),
            cmds = escape(&login_commands(v, &c.secret)),
        );
    }
    let groups = if v.groups.is_empty() {
        "none".to_string()
    } else {
        v.groups.join(", ")
    };
    let _ = write!(
        b,
        "<section aria-labelledby=\"who\"><h2 id=\"who\">Who you are</h2><dl>\
         <dt>Account</dt><dd id=\"account\">{}</dd><dt>Signed in with</dt><dd>{}</dd>\
         <dt>Groups</dt><dd id=\"groups\">{}</dd></dl></section>",
        escape(v.account),
        escape(v.provider),
        escape(&groups)
    );
    let _ = write!(
        b,
        "<section aria-labelledby=\"acl\"><h2 id=\"acl\">What you may do on {}</h2>",
        escape(v.service)
    );
    if v.rules.is_empty() {
        b.push_str("<p>No rule of the ACL applies to you: nothing is granted.</p>");
    } else {
        b.push_str("<p>The first rule that matches a repository decides:</p><ul>");
        for r in &v.rules {
            let _ = write!(b, "<li>{}</li>", escape(r));
        }
        b.push_str("</ul>");
    }
    let asked = v.explained.as_ref().map(|(s, _)| s.as_str()).unwrap_or("");
    let _ = write!(
        b,
        "<form method=\"get\" action=\"/account\"><label for=\"scope\">Check a scope \
         (like <code>repository:team/app:pull,push</code>)</label>\
         <input id=\"scope\" name=\"scope\" size=\"40\" maxlength=\"512\" value=\"{}\">\
         <button type=\"submit\">Explain</button></form>",
        escape(asked)
    );
    if let Some((_, lines)) = &v.explained {
        b.push_str("<pre id=\"explained\">");
        for l in lines {
            let _ = writeln!(b, "{}", escape(l));
        }
        b.push_str("</pre>");
    }
    b.push_str("</section>");
    let _ = write!(
        b,
        "<section aria-labelledby=\"create\"><h2 id=\"create\">New registry credential</h2>\
         <form method=\"post\" action=\"/account/credentials\">{csrf}\
         <label for=\"name\">Name (where you will use it)</label>\
         <input id=\"name\" name=\"name\" required maxlength=\"64\" placeholder=\"laptop\">\
         <label for=\"days\">Expires after (days, at most {max})</label>\
         <input id=\"days\" name=\"days\" type=\"number\" min=\"1\" max=\"{max}\" value=\"{max}\" required>\
         <button type=\"submit\">Create credential</button></form></section>",
        csrf = csrf_field(v.csrf),
        max = v.max_days
    );
    b.push_str("<section aria-labelledby=\"list\"><h2 id=\"list\">Your credentials</h2>");
    if v.credentials.is_empty() {
        b.push_str("<p>You have none.</p>");
    } else {
        b.push_str(
            "<table><thead><tr><th scope=\"col\">Name</th><th scope=\"col\">Created</th>\
             <th scope=\"col\">Expires</th><th scope=\"col\"><span class=\"sr\">Revoke</span></th></tr></thead><tbody>",
        );
        for c in &v.credentials {
            let origin = c
                .device
                .as_ref()
                .map(|d| format!(" (device approval by {d})"))
                .unwrap_or_default();
            let _ = write!(
                b,
                "<tr><td>{name}{origin}</td><td>{created}</td><td>{expires}</td><td>\
                 <form method=\"post\" action=\"/account/credentials/revoke\">{csrf}\
                 <input type=\"hidden\" name=\"id\" value=\"{id}\">\
                 <button type=\"submit\" aria-label=\"Revoke {name}\">Revoke</button></form></td></tr>",
                name = escape(&c.name),
                origin = escape(&origin),
                created = escape(&date(c.created)),
                expires = escape(&date(c.expires)),
                csrf = csrf_field(v.csrf),
                id = escape(&c.id),
            );
        }
        b.push_str("</tbody></table>");
    }
    b.push_str("</section>");
    let _ = write!(
        b,
        "<form method=\"post\" action=\"/logout\">{}<button type=\"submit\">Sign out</button></form>",
        csrf_field(v.csrf)
    );
    layout("Your registry access", &b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(sh("it's"), r"'it'\''s'");
        assert_eq!(date(1_764_966_600), "2025-12-05 20:30 UTC");
    }
}
