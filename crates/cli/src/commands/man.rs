//! `man --out DIR` (hidden): the manual pages, one per command, generated from the command
//! tree.
//!
//! The pages are the `--help` texts in roff, so they cannot drift from the binary. Hidden
//! because it serves the packaging step (`packaging/build-deb`), not an admin at a
//! prompt, who has `man certherd` once the package is installed.

use crate::Failure;
use clap::Args;
use clap::CommandFactory;
use std::path::Path;
use std::path::PathBuf;
use std::process::ExitCode;

/// `man` arguments.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// The directory to write the pages into (created when missing; pages already there
    /// are replaced).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// One manual page: its file name (`certherd-cert-issue.1`) and its roff text.
pub struct Page {
    /// The file name, section 1.
    pub name: String,
    /// The page in roff.
    pub roff: Vec<u8>,
}

/// Every page: `certherd.1`, then one per command and subcommand (`certherd-cert.1`,
/// `certherd-cert-issue.1`, ...), hidden commands and clap's `help` left out.
pub fn pages() -> Result<Vec<Page>, std::io::Error> {
    // `help` subcommands would be pages of their own; without them, the tree is the
    // commands an admin types. Built once here so every subcommand knows its full name
    // (`certherd cert issue` in SYNOPSIS, `certherd-cert-issue` as the page's name).
    let mut root = super::Cli::command().disable_help_subcommand(true);
    root.build();
    let mut pages = Vec::new();
    let mut pending = vec![root];
    while let Some(cmd) = pending.pop() {
        pending.extend(cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned());
        let man = clap_mangen::Man::new(cmd).manual("certherd Manual");
        let mut roff = Vec::new();
        man.render(&mut roff)?;
        pages.push(Page {
            name: man.get_filename(),
            roff,
        });
    }
    pages.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(pages)
}

/// Writes every page into `dir`, returning their paths.
fn write_pages(dir: &Path) -> Result<Vec<PathBuf>, Failure> {
    std::fs::create_dir_all(dir).map_err(|e| Failure::file(dir, e))?;
    let pages = pages().map_err(|e| Failure::msg(format!("rendering the manual pages: {e}")))?;
    let mut written = Vec::with_capacity(pages.len());
    for page in pages {
        let path = dir.join(&page.name);
        std::fs::write(&path, &page.roff).map_err(|e| Failure::file(&path, e))?;
        written.push(path);
    }
    Ok(written)
}

/// `man`: writes the pages and prints each path, one a line.
pub fn run(a: ManArgs) -> Result<ExitCode, Failure> {
    for path in write_pages(&a.out)? {
        outln!("{}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The file name of the page of each visible command, walking the tree as clap sees it.
    fn expected_names(cmd: &clap::Command, prefix: &str, out: &mut Vec<String>) {
        let name = format!("{prefix}{}", cmd.get_name());
        out.push(format!("{name}.1"));
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            if sub.get_name() != "help" {
                expected_names(sub, &format!("{name}-"), out);
            }
        }
    }

    /// Every command and subcommand has its page, named after its full command line, and
    /// no page is a hidden command's or `help`'s.
    #[test]
    fn every_command_gets_a_page() {
        let pages = pages().unwrap();
        let mut names: Vec<String> = pages.iter().map(|p| p.name.clone()).collect();
        let mut expected = Vec::new();
        expected_names(&crate::commands::Cli::command(), "", &mut expected);
        names.sort();
        expected.sort();
        assert_eq!(names, expected);
        for name in [
            "certherd.1",
            "certherd-cert-issue.1",
            "certherd-agent-run.1",
            "certherd-completions.1",
        ] {
            assert!(names.iter().any(|n| n == name), "no {name}");
        }
        assert!(!names
            .iter()
            .any(|n| n.contains("help") || n == "certherd-man.1"));
    }

    /// A subcommand's page names the whole command line and says what the command does.
    #[test]
    fn a_page_says_its_command_line_and_its_help() {
        let pages = pages().unwrap();
        let renew = pages
            .iter()
            .find(|p| p.name == "certherd-cert-renew.1")
            .unwrap();
        let text = String::from_utf8(renew.roff.clone()).unwrap();
        assert!(text.starts_with(".ie") || text.starts_with(".TH"), "{text}");
        assert!(text.contains("certherd\\-cert\\-renew"), "{text}");
        assert!(text.contains("\\-\\-due"), "{text}");
    }

    /// `man --out` creates the directory and writes one file per page.
    #[test]
    fn writes_the_pages_into_a_new_directory() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("man/man1");
        let written = write_pages(&out).unwrap();
        assert_eq!(written.len(), pages().unwrap().len());
        assert!(written.iter().all(|p| p.starts_with(&out) && p.is_file()));
    }
}
