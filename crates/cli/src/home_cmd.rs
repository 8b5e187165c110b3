//! `home seal-key move`: the master key out of the home.

use std::process::ExitCode;

use certherd_store::{Home, MASTER_KEY_ENV};

use crate::args::{HomeCmd, SealKeyCmd};
use crate::Failure;

/// `home`.
pub fn run(home: &Home, c: HomeCmd) -> Result<ExitCode, Failure> {
    let HomeCmd::SealKey(SealKeyCmd::Move { to }) = c;
    let to = std::path::absolute(&to).map_err(|e| Failure::file(&to, e))?;
    let moved = home
        .move_master_key(&to)
        .map_err(certherd_ca::Error::from)?;
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
