//! macOS: the Seatbelt profile (`sandbox-exec -p <profile>`) of a sandbox mode.
//!
//! Generated for every platform so that its text is tested everywhere; only macOS
//! uses it, and its enforcement cannot be tested on Linux.

use crate::paths::Layout;
use crate::SandboxConfig;
use crate::SandboxMode;

/// A string literal of the profile language.
fn quote(path: &std::path::Path) -> String {
    let s = path.display().to_string();
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The profile: deny by default; read everything but the denied paths; write only
/// where the mode allows; network only when allowed; no reading other processes.
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
pub(crate) fn profile(config: &SandboxConfig, layout: &Layout) -> String {
    let mut p = String::from("(version 1)\n(deny default)\n");
    p.push_str(
        "(allow process-exec)\n(allow process-fork)\n(allow signal (target same-sandbox))\n",
    );
    p.push_str("(allow process-info* (target same-sandbox))\n");
    p.push_str(
        "(allow sysctl-read)\n(allow mach-lookup)\n(allow ipc-posix-shm)\n(allow pseudo-tty)\n",
    );
    p.push_str("(allow file-read*)\n");
    for denied in &layout.denied {
        p.push_str(&format!("(deny file-read* (subpath {}))\n", quote(denied)));
    }
    p.push_str("(allow file-write-data (literal \"/dev/null\") (literal \"/dev/zero\") (literal \"/dev/tty\"))\n");
    if config.mode == SandboxMode::WorkspaceWrite {
        for dir in &layout.writable {
            p.push_str(&format!("(allow file-write* (subpath {}))\n", quote(dir)));
        }
        for denied in &layout.denied {
            p.push_str(&format!("(deny file-write* (subpath {}))\n", quote(denied)));
        }
    }
    if config.network {
        p.push_str("(allow network*)\n");
    } else {
        p.push_str("(allow network* (remote unix-socket))\n");
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn layout() -> Layout {
        Layout {
            writable: vec![PathBuf::from("/work/repo"), PathBuf::from("/private/tmp")],
            denied: vec![
                PathBuf::from("/Users/me/.ssh"),
                PathBuf::from("/Users/me/a \"q\""),
            ],
            workspace: PathBuf::from("/work/repo"),
            home: Some(PathBuf::from("/Users/me")),
        }
    }

    #[test]
    fn workspace_write_profile_allows_writes_only_in_the_writable_roots() {
        let config = SandboxConfig::default();
        let p = profile(&config, &layout());
        assert!(p.starts_with("(version 1)\n(deny default)\n"), "{p}");
        assert!(
            p.contains("(allow file-write* (subpath \"/work/repo\"))"),
            "{p}"
        );
        assert!(
            p.contains("(deny file-read* (subpath \"/Users/me/.ssh\"))"),
            "{p}"
        );
        assert!(p.contains("(subpath \"/Users/me/a \\\"q\\\"\")"), "{p}");
        assert!(!p.contains("(allow network*)"), "{p}");
    }

    #[test]
    fn read_only_profile_writes_nowhere_and_network_is_opt_in() {
        let config = SandboxConfig {
            mode: SandboxMode::ReadOnly,
            network: true,
            ..SandboxConfig::default()
        };
        let p = profile(&config, &layout());
        assert!(!p.contains("(allow file-write* (subpath"), "{p}");
        assert!(p.contains("(allow network*)"), "{p}");
    }
}
