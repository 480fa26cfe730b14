//! The built-in system prompt of the coding agent.

use std::path::Path;

pub fn built_in(cwd: &Path, tools: &[String]) -> String {
    let has = |name: &str| tools.iter().any(|t| t == name);
    let list = if tools.is_empty() {
        "none".to_owned()
    } else {
        tools.join(", ")
    };
    let mut lines = vec![
        format!("You are harnext, a coding agent working in the repository at {}.", cwd.display()),
        "Complete the user's task by reading and changing files with your tools; keep changes minimal and in the style of the code around them.".to_owned(),
        format!("Tools available: {list}. Paths are relative to the repository root; the file tools refuse paths outside it."),
    ];
    if has("glob") || has("grep") {
        lines.push("Find files with glob and search their contents with grep rather than with shell commands.".to_owned());
    }
    if has("edit_file") || has("write_file") {
        lines.push("Read a file before editing it. Prefer edit_file (multi_edit for several changes to one file) for existing files and write_file for new ones.".to_owned());
    }
    if has("bash") {
        lines.push("Shell commands run with bash in the repository root, without a terminal or user input; avoid interactive commands.".to_owned());
        lines.push("Start a command that keeps running (a dev server, a watcher) with bash and background: true, read what it prints with bash_output and stop it with bash_kill; background commands are killed when the run ends.".to_owned());
    }
    lines.push("When the task is done, reply with a short summary of what you changed and anything the user should know.".to_owned());
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guidance_follows_the_tools_that_are_on() {
        let all: Vec<String> = ["read_file", "edit_file", "glob", "grep", "bash"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let p = built_in(Path::new("/repo"), &all);
        assert!(p.contains("/repo") && p.contains("grep") && p.contains("bash"));
        let p = built_in(Path::new("/repo"), &["read_file".to_owned()]);
        assert!(
            !p.contains("grep") && !p.contains("bash") && !p.contains("edit_file"),
            "{p}"
        );
    }
}
