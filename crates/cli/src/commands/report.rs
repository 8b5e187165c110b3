//! `report`: one self-contained HTML page of the inventory, alarms and forecast. An
//! operation: the page is made where the inventory is, and written here.
use crate::commands::forecast::until_from;

use crate::Failure;
use certherd_ops::Operations;
use certherd_store::write_out;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// `report --html FILE`: on a home, the alarms are evaluated first, as `alarms` does.
pub fn operation(ops: &mut dyn Operations, a: ReportArgs) -> Result<ExitCode, Failure> {
    use certherd_core::Clock;
    let until = until_from(certherd_authority::SystemClock.now(), a.until.as_deref())?;
    let r = ops.report(until)?;
    write_out(&a.html, r.html.as_bytes(), 0o644).map_err(|e| Failure::file(&a.html, e))?;
    outln!(
        "wrote {} ({} certificates, {} needing attention, {} open alarms)",
        a.html.display(),
        r.certificates,
        r.attention,
        r.alarms
    );
    Ok(ExitCode::SUCCESS)
}

/// `report` arguments.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Write the HTML report to FILE (atomically).
    #[arg(long, value_name = "FILE")]
    pub html: PathBuf,
    /// Forecast period: RFC 3339, YYYY-MM-DD, or +DURATION [default: +12y].
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
}
