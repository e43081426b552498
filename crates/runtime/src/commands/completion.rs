//! `rune completion SHELL`: a completion script generated from the same clap definition that
//! parses the command line, so completions cannot drift from the flags. (runc has no verb by
//! this name, so no runc caller can mean something else by it.)

use anyhow::Result;
use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;

/// Writes the completion script for `shell` to stdout.
pub fn completion(shell: Shell) -> Result<i32> {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "rune", &mut std::io::stdout());
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bash_script_completes_rune_verbs_and_flags() {
        let mut out = Vec::new();
        clap_complete::generate(Shell::Bash, &mut Cli::command(), "rune", &mut out);
        let script = String::from_utf8(out).unwrap();
        assert!(
            script.contains("complete -F _rune"),
            "not a bash completion script"
        );
        for word in [
            "check",
            "completion",
            "enclave",
            "--console-socket",
            "--log-format",
        ] {
            assert!(
                script.contains(word),
                "{word} missing from the bash completions"
            );
        }
    }
}
