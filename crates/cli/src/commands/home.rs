//! `home seal-key move`: the master key out of the home.

use crate::Failure;
use certherd_store::Home;
use certherd_store::MASTER_KEY_ENV;
use clap::Subcommand;
use std::path::PathBuf;
use std::process::ExitCode;

/// `home`.
pub fn run(home: &Home, c: HomeCmd) -> Result<ExitCode, Failure> {
    let HomeCmd::SealKey(SealKeyCmd::Move { to }) = c;
    let to = std::path::absolute(&to).map_err(|e| Failure::file(&to, e))?;
    let moved = home
        .move_master_key(&to)
        .map_err(certherd_authority::Error::from)?;
    match &moved.verified_with {
        Some(entry) => outln!(
            "moved the master key from {} to {} (mode 0600; checked: it opens the sealed key of {entry})",
            moved.from.display(),
            moved.to.display()
        ),
        None => outln!(
            "moved the master key from {} to {} (mode 0600; the home holds no sealed key yet to check it with)",
            moved.from.display(),
            moved.to.display()
        ),
    }
    if to.starts_with(home.dir()) {
        errln!(
            "warning: {} is inside the home: a backup of the home still holds the key",
            to.display()
        );
    }
    outln!(
        "set {MASTER_KEY_ENV}={} for every certherd command on this home (in a systemd unit: Environment={MASTER_KEY_ENV}={} or LoadCredential=certherd-master-key:{}); without it certherd cannot open the home",
        to.display(),
        to.display(),
        to.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Warns on stderr about each file or directory of the home that group or others may read
/// or write (an existing directory is kept as it is: the admin chose it).
pub fn warn_modes(home: &Home) {
    if let Ok(problems) = home.mode_problems() {
        for p in problems {
            errln!("warning: {p}");
        }
    }
}

/// `home` subcommands.
#[derive(Debug, Subcommand)]
pub enum HomeCmd {
    /// The master key that seals every private key of the home.
    #[command(subcommand, name = "seal-key")]
    SealKey(SealKeyCmd),
}

/// `home seal-key` subcommands.
#[derive(Debug, Subcommand)]
pub enum SealKeyCmd {
    /// Move the master key out of the home (or to another place), so that a backup of the
    /// home alone cannot unseal any private key.
    ///
    /// The key is written 0600 at PATH (which must not exist), checked to open a sealed
    /// key of this home, and only then removed from where it was. Afterwards every
    /// certherd command on this home needs CERTHERD_MASTER_KEY_FILE=PATH (or the systemd
    /// credential `certherd-master-key`).
    Move {
        /// Where the key goes: a file that does not exist yet, on a path outside the home.
        #[arg(long, value_name = "PATH")]
        to: PathBuf,
    },
}
