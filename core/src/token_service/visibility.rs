//! Which repositories a token's subject may pull now, for the filtered catalog (issue 16,
//! core/src/proxy/catalog.rs). Evaluated against the current `user:` record and ACL, not the
//! token's `access` claim (which holds only what the token was asked for).

use super::{authenticate, AuthError, RequestContext, TokenService};
use crate::federation::Fetch;
use crate::policy::{Acl, Principal};
use crate::scope::{Scope, REPOSITORY};
use crate::store::Store;
use std::rc::Rc;

/// The ACL and principal a catalog is filtered with.
#[derive(Debug)]
pub struct PullVisibility {
    acl: Rc<Acl>,
    principal: Option<Principal<'static>>,
    service: String,
}

impl PullVisibility {
    /// No repository can be visible (unknown, disabled or workload subject): the origin's
    /// catalog need not be read at all.
    pub fn sees_nothing(&self) -> bool {
        self.principal.is_none()
    }

    /// Whether the caller may pull `name`. Names that are not valid repository names are hidden.
    pub fn may_pull(&self, name: &str) -> bool {
        let Some(principal) = &self.principal else {
            return false;
        };
        if crate::reference::validate_repository_name(name).is_err() {
            return false;
        }
        let scope = Scope {
            resource_type: REPOSITORY.to_string(),
            resource_class: None,
            name: name.to_string(),
            actions: vec!["pull".to_string()],
        };
        !self
            .acl
            .authorize(principal, &self.service, std::slice::from_ref(&scope))
            .is_empty()
    }
}

impl TokenService {
    /// The visibility of `subject` (`""`: anonymous) on `service`. A subject without an enabled
    /// `user:` record (deleted, disabled, or a workload, whose claims a token does not carry)
    /// sees nothing. Storage errors and malformed records are errors: never a wider list.
    pub async fn pull_visibility<S: Store, F: Fetch>(
        &self,
        subject: &str,
        service: &str,
        ctx: &RequestContext<'_, S, F>,
    ) -> Result<PullVisibility, AuthError> {
        // The same cached, validated ACL and `user:` record reads as authentication.
        let acl = authenticate::acl(self, ctx).await?;
        let principal = if subject.is_empty() {
            Some(Principal::anonymous())
        } else {
            authenticate::user(self, ctx, subject)
                .await?
                .filter(|u| !u.disabled)
                .map(|u| Principal::user(subject, &u.groups, &u.labels).into_owned())
        };
        Ok(PullVisibility {
            acl,
            principal,
            service: service.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use crate::federation::NoFetch;
    use crate::store::MemoryStore;
    use crate::test_support::block_on;
    use serde_json::json;

    fn app() -> TokenService {
        let vars = std::collections::HashMap::from([
            ("ISSUER", "t".to_string()),
            ("SERVICES", "registry.local".to_string()),
            (
                "SIGNING_KEY",
                include_str!("testdata/es256.pem").to_string(),
            ),
        ]);
        TokenService::new(
            Settings::from_vars(|k| vars.get(k).cloned()).unwrap(),
            [1; 32],
        )
        .unwrap()
    }

    #[test]
    fn follows_the_current_acl_and_user_record() {
        let app = app();
        let store = MemoryStore::with([
            ("user:bob".to_string(), json!({"groups": ["r"]}).to_string()),
            (
                "user:off".to_string(),
                json!({"groups": ["r"], "disabled": true}).to_string(),
            ),
            (
                "acl".to_string(),
                json!([
                    {"match": {"name": "org/secret*"}, "actions": []},
                    {"match": {"group": "r", "name": "org/*"}, "actions": ["pull"]},
                    {"match": {"name": "public/*"}, "actions": ["pull"]},
                ])
                .to_string(),
            ),
        ]);
        let v = |s: &str| {
            let ctx = RequestContext::without_randomness(&store, &NoFetch, 1);
            block_on(app.pull_visibility(s, "registry.local", &ctx)).unwrap()
        };
        let bob = v("bob");
        assert!(bob.may_pull("org/app") && bob.may_pull("public/x"));
        assert!(!bob.may_pull("org/secret1") && !bob.may_pull("other/x"));
        assert!(!bob.may_pull("Org/App"), "invalid names are hidden");
        let anon = v("");
        assert!(anon.may_pull("public/x") && !anon.may_pull("org/app"));
        assert!(!v("off").may_pull("public/x"), "disabled sees nothing");
        assert!(
            !v("ghost").may_pull("public/x"),
            "unknown subject sees nothing"
        );
        assert!(v("ghost").sees_nothing() && !v("").sees_nothing() && !bob.sees_nothing());
        store.fail.set(true);
        let ctx = RequestContext::without_randomness(&store, &NoFetch, 100_000);
        assert!(block_on(app.pull_visibility("bob", "registry.local", &ctx)).is_err());
    }
}
