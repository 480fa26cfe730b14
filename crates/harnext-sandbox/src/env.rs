//! The environment a sandboxed command gets: the agent's, less the provider keys and
//! every variable whose name looks like a secret.

use std::ffi::OsStr;
use std::ffi::OsString;

/// Parts of a name that mark a secret (matched case-insensitively anywhere in it).
pub const SECRET_NAME_PARTS: &[&str] =
    &["KEY", "SECRET", "TOKEN", "PASSWORD", "PASSWD", "CREDENTIAL"];

/// Variables that give access to credentials without holding one (agents' sockets).
pub const DEFAULT_DENY_ENV: &[&str] = &["SSH_AUTH_SOCK", "GPG_AGENT_INFO", "SSH_AGENT_PID"];

/// Which variables pass.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnvPolicy {
    /// Names (or `*` patterns) kept even when they look like secrets.
    pub allow: Vec<String>,
    /// Names (or `*` patterns) always removed.
    pub deny: Vec<String>,
}

/// `name` matches `pattern`: exact (case-insensitive), or with `*` standing for any
/// run of characters (`AWS_*`, `*_URL`).
pub fn name_matches(pattern: &str, name: &str) -> bool {
    let pattern = pattern.to_ascii_uppercase();
    let name = name.to_ascii_uppercase();
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let mut rest = name.as_str();
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            continue;
        }
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

impl EnvPolicy {
    /// True when the variable `name` is passed to commands.
    pub fn keeps(&self, name: &OsStr) -> bool {
        let Some(name) = name.to_str() else {
            // A name that is not UTF-8 cannot be checked: drop it.
            return false;
        };
        if self.deny.iter().any(|p| name_matches(p, name)) {
            return false;
        }
        if self.allow.iter().any(|p| name_matches(p, name)) {
            return true;
        }
        let upper = name.to_ascii_uppercase();
        if DEFAULT_DENY_ENV.iter().any(|d| *d == upper) {
            return false;
        }
        !SECRET_NAME_PARTS.iter().any(|part| upper.contains(part))
    }

    /// The variables of `vars` that pass.
    pub fn filter(
        &self,
        vars: impl Iterator<Item = (OsString, OsString)>,
    ) -> Vec<(OsString, OsString)> {
        vars.filter(|(name, _)| self.keeps(name)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keeps(policy: &EnvPolicy, name: &str) -> bool {
        policy.keeps(OsStr::new(name))
    }

    #[test]
    fn secret_looking_names_and_provider_keys_are_dropped() {
        let p = EnvPolicy::default();
        for name in [
            "ANTHROPIC_API_KEY",
            "OPENAI_API_KEY",
            "GITHUB_TOKEN",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "DB_PASSWORD",
            "my_api_key",
            "SSH_AUTH_SOCK",
            "GOOGLE_APPLICATION_CREDENTIALS",
        ] {
            assert!(!keeps(&p, name), "{name} should be dropped");
        }
        for name in [
            "PATH",
            "HOME",
            "LANG",
            "TERM",
            "GIT_AUTHOR_NAME",
            "CARGO_HOME",
        ] {
            assert!(keeps(&p, name), "{name} should be kept");
        }
    }

    #[test]
    fn allow_and_deny_lists_apply_with_patterns() {
        let p = EnvPolicy {
            allow: vec!["GITHUB_TOKEN".into(), "NPM_*".into()],
            deny: vec!["*_URL".into(), "internal".into()],
        };
        assert!(keeps(&p, "GITHUB_TOKEN"));
        assert!(keeps(&p, "NPM_TOKEN"));
        assert!(!keeps(&p, "DATABASE_URL"));
        assert!(!keeps(&p, "INTERNAL"));
        assert!(!keeps(&p, "OPENAI_API_KEY"));
        assert!(name_matches("A*B*C", "AxxBxxC"));
        assert!(!name_matches("A*B*C", "AxxC"));
        assert!(name_matches("*", "ANY"));
    }
}
