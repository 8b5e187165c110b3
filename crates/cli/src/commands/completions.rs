//! `completions SHELL`: the shell completion script, generated from the command tree.
//!
//! Generated at run time rather than shipped as files, so the script always matches the
//! binary that prints it (rustup and gh do the same). The Debian package installs the
//! bash, zsh and fish scripts this prints; `packaging/build-deb` writes them.

use crate::Failure;
use clap::Args;
use clap::CommandFactory;
use clap_complete::Shell;
use std::process::ExitCode;

/// `completions` arguments.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete certherd's commands, flags and values in.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: Shell,
}

/// The completion script for `shell`, for the binary named `certherd`.
pub fn script(shell: Shell) -> Vec<u8> {
    let mut cli = super::Cli::command();
    let mut out = Vec::new();
    // Into memory first: clap_complete panics when its writer fails, and stdout may be a
    // full disk behind a redirect; `output::raw` says that as an error instead.
    clap_complete::generate(shell, &mut cli, "certherd", &mut out);
    out
}

/// `completions`: prints the script on stdout. Needs no home and no server.
pub fn run(a: CompletionsArgs) -> Result<ExitCode, Failure> {
    crate::output::raw(&script(a.shell))
        .map_err(|e| Failure::msg(format!("writing to stdout: {e}")))?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use clap::ValueEnum;

    /// Every shell gets a script that completes the subcommands and their subcommands.
    #[test]
    fn every_shell_gets_a_script_naming_the_subcommands() {
        for shell in Shell::value_variants() {
            let text = String::from_utf8(script(*shell)).unwrap();
            assert!(!text.trim().is_empty(), "{shell}: empty");
            for word in ["certherd", "issue", "renew", "completions"] {
                assert!(text.contains(word), "{shell}: no `{word}`");
            }
        }
    }
}
