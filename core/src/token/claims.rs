//! The claims of a registry token (distribution's jwt.md), shared by issuance, verification and policy.

use serde::{Deserialize, Serialize};

/// One entry of the `access` claim: what the bearer may do on one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    #[serde(rename = "type")]
    pub resource_type: String,
    pub name: String,
    pub actions: Vec<String>,
}

impl Access {
    /// The scope this entry grants, `type:name:actions` (actions comma-separated), as a client
    /// would ask for it: the audit line's `granted` and OAuth2's `scope`. Built by appending, not
    /// with `format!`, because every token writes it (the formatting machinery was a visible
    /// item of a warm token's profile, bench/README.md "Steady state").
    pub fn scope_string(&self) -> String {
        let actions: usize = self.actions.iter().map(|a| a.len() + 1).sum();
        let mut s = String::with_capacity(self.resource_type.len() + self.name.len() + 2 + actions);
        s.push_str(&self.resource_type);
        s.push(':');
        s.push_str(&self.name);
        s.push(':');
        for (i, action) in self.actions.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(action);
        }
        s
    }
}

/// The registered and private claims Tollgate puts in every token. `aud` is a single string because
/// docker-registry 2.8 rejects an array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: u64,
    pub nbf: u64,
    pub iat: u64,
    pub jti: String,
    pub access: Vec<Access>,
    /// Private claim: the client networks / countries the credential behind this token is bound
    /// to (core/src/netbind.rs). The proxy refuses the token from anywhere else; registries
    /// ignore claims they do not know.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net: Option<crate::netbind::NetBinding>,
}

#[cfg(test)]
mod tests {
    use super::Access;

    fn access(actions: &[&str]) -> Access {
        Access {
            resource_type: "repository".into(),
            name: "org/app".into(),
            actions: actions.iter().map(|a| a.to_string()).collect(),
        }
    }

    /// The scope a grant is written as: actions comma-separated, in their order.
    #[test]
    fn scope_string() {
        assert_eq!(access(&["pull"]).scope_string(), "repository:org/app:pull");
        assert_eq!(
            access(&["pull", "push", "delete"]).scope_string(),
            "repository:org/app:pull,push,delete"
        );
        assert_eq!(access(&[]).scope_string(), "repository:org/app:");
    }
}
