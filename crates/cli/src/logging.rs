//! The log of `certherd server` and `certherd agent run` (issue 25, "logs for the
//! journal"): the one place that installs the `tracing` subscriber the server's and the
//! agent's events go through.
//!
//! Under systemd the journal stamps each line itself, so a second timestamp is noise:
//! `auto` leaves it out when stderr is the journal's stream. The audit log is not a log
//! line and does not go through here.

use crate::Failure;
use clap::ValueEnum;
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::{EnvFilter, LevelFilter};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The environment variable that chooses which events are logged, in `EnvFilter` syntax.
pub const FILTER_VAR: &str = "CERTHERD_LOG";

/// How a log line is written (`--log-format`, `CERTHERD_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// `plain` when stderr is the systemd journal (JOURNAL_STREAM names it), each line
    /// starting with its syslog priority for journald, `full` otherwise.
    Auto,
    /// The level, the message and its fields, no timestamp (the journal adds its own).
    Plain,
    /// An RFC 3339 UTC timestamp, the level, the message and its fields.
    Full,
    /// One JSON object a line: timestamp, level, fields (with the message).
    Json,
}

/// The `--log-format` flag, shared by `server` and `agent run`.
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// How log lines are written: `auto` is `plain` when stderr is the systemd journal
    /// (JOURNAL_STREAM matches stderr's device and inode), each line prefixed with its
    /// syslog priority (`<4>`) so `journalctl -p warning` filters by level, and `full`
    /// otherwise; `plain` is
    /// the level, message and fields (host=, entry=, serial=, source=, code=...) without a
    /// timestamp; `full` starts each line with an RFC 3339 UTC timestamp; `json` writes one
    /// JSON object a line (timestamp, level, fields). Which events: CERTHERD_LOG, in
    /// tracing's EnvFilter syntax (e.g. `warn`, `info,certherd_server=debug`), default
    /// `info`.
    #[arg(
        long,
        value_enum,
        value_name = "FORMAT",
        env = "CERTHERD_LOG_FORMAT",
        default_value = "auto"
    )]
    pub log_format: LogFormat,
}

/// The format `auto` stands for, from JOURNAL_STREAM (`DEVICE:INODE`, as systemd sets it
/// for a service whose stderr is the journal) and stderr's own device and inode: the
/// variable alone is not enough, because a child of a service inherits it even when its
/// stderr goes elsewhere (a file, a pipe).
pub fn resolve(
    flag: LogFormat,
    journal_stream: Option<&str>,
    stderr: Option<(u64, u64)>,
) -> LogFormat {
    if flag != LogFormat::Auto {
        return flag;
    }
    let journal = journal_stream
        .and_then(|v| v.trim().split_once(':'))
        .and_then(|(dev, ino)| Some((dev.parse::<u64>().ok()?, ino.parse::<u64>().ok()?)));
    match (journal, stderr) {
        (Some(j), Some(s)) if j == s => LogFormat::Plain,
        _ => LogFormat::Full,
    }
}

/// stderr's device and inode, as JOURNAL_STREAM spells them; `None` when it is closed.
fn stderr_identity() -> Option<(u64, u64)> {
    let st = rustix::fs::fstat(std::io::stderr()).ok()?;
    // The field types differ between targets (u32/u64/i64); widening is what systemd does.
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    let dev = u64::try_from(st.st_dev).ok()?;
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    let ino = u64::try_from(st.st_ino).ok()?;
    Some((dev, ino))
}

/// Installs the subscriber for this process: stderr, the format `args` choose, the events
/// CERTHERD_LOG lets through (`info` and above when unset).
pub fn install(args: &LogArgs) -> Result<(), Failure> {
    let format = resolve(
        args.log_format,
        std::env::var("JOURNAL_STREAM").ok().as_deref(),
        stderr_identity(),
    );
    let filter = EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .with_env_var(FILTER_VAR)
        .from_env()
        .map_err(|e| Failure::usage(format!("{FILTER_VAR}: {e}")))?;
    // The target (the Rust module) says nothing to an admin; the fields do.
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_env_filter(filter);
    // Under the journal (`auto` found it), each line starts with its syslog priority,
    // `<4>WARN ...`: journald takes the priority from it (SyslogLevelPrefix=, on by default)
    // and strips it, so `journalctl -p warning` filters by certherd's levels. A `plain`
    // asked for elsewhere has no prefix.
    let journal = args.log_format == LogFormat::Auto && format == LogFormat::Plain;
    let installed = match format {
        LogFormat::Plain => builder
            .event_format(Plain {
                syslog_prefix: journal,
            })
            .try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
        LogFormat::Full | LogFormat::Auto => builder.try_init(),
    };
    installed.map_err(|e| Failure::msg(format!("cannot start the log: {e}")))
}

/// `plain`: `LEVEL message field=value ...`. The stock format without its timer pads the
/// level to five columns (` INFO`), which would start every journal line with a space.
struct Plain {
    /// Whether each line starts with its syslog priority (`<6>`), for the journal.
    syslog_prefix: bool,
}

/// The syslog priority journald reads from a line's `<N>` prefix (sd-daemon(3)): error 3,
/// warning 4, notice 5 (unused), info 6, debug 7.
fn syslog_priority(level: &tracing::Level) -> u8 {
    match *level {
        tracing::Level::ERROR => 3,
        tracing::Level::WARN => 4,
        tracing::Level::INFO => 6,
        _ => 7,
    }
}

impl<S, N> FormatEvent<S, N> for Plain
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let level = event.metadata().level();
        if self.syslog_prefix {
            write!(writer, "<{}>", syslog_priority(level))?;
        }
        write!(writer, "{level} ")?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_is_plain_only_when_stderr_is_the_journal() {
        let me = Some((64769, 123456));
        assert_eq!(
            resolve(LogFormat::Auto, Some("64769:123456"), me),
            LogFormat::Plain
        );
        // Inherited from a service, but stderr is elsewhere now.
        assert_eq!(
            resolve(LogFormat::Auto, Some("64769:999"), me),
            LogFormat::Full
        );
        assert_eq!(resolve(LogFormat::Auto, None, me), LogFormat::Full);
        assert_eq!(
            resolve(LogFormat::Auto, Some("garbage"), me),
            LogFormat::Full
        );
        assert_eq!(
            resolve(LogFormat::Auto, Some("64769:123456"), None),
            LogFormat::Full
        );
    }

    #[test]
    fn levels_map_to_the_syslog_priorities_journald_reads() {
        use tracing::Level;
        assert_eq!(
            [
                Level::ERROR,
                Level::WARN,
                Level::INFO,
                Level::DEBUG,
                Level::TRACE
            ]
            .iter()
            .map(syslog_priority)
            .collect::<Vec<_>>(),
            [3, 4, 6, 7, 7]
        );
    }

    #[test]
    fn an_explicit_format_wins() {
        let me = Some((1, 2));
        assert_eq!(resolve(LogFormat::Full, Some("1:2"), me), LogFormat::Full);
        assert_eq!(resolve(LogFormat::Json, Some("1:2"), me), LogFormat::Json);
        assert_eq!(resolve(LogFormat::Plain, None, None), LogFormat::Plain);
    }
}
