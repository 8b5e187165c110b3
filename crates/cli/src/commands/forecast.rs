//! `forecast`: what lapses when, what it breaks, and whether renewal covers it.
use crate::render::short_of;
use certherd_ops::Horizon;
use certherd_ops::Operations;
use std::process::ExitCode;

use crate::commands::Output;
use crate::instant::parse_at;
use crate::instant::rfc3339;
use crate::render::json;
use crate::render::table;
use crate::Failure;
use certherd_core::OffsetDateTime;
use certherd_core::Span;
use certherd_protocol::admin as api;
use clap::Args;

/// The end of a forecast: `--until` from `now` (default twelve years ahead), not in the past.
pub fn until_from(now: OffsetDateTime, s: Option<&str>) -> Result<OffsetDateTime, Failure> {
    let t = match s {
        Some(s) => parse_at(s, now)?,
        // Past the root CA's ten years, so the headline finds the first breakage.
        None => Span::days(365 * 12).after(now),
    };
    if t < now {
        return Err(Failure::usage(format!(
            "--until {} is in the past",
            rfc3339(t)
        )));
    }
    Ok(t)
}

/// `forecast --output json`.
#[derive(serde::Serialize)]
struct ForecastJson<'a> {
    from: &'a str,
    until: &'a str,
    first_unattended: Option<UnattendedJson<'a>>,
    items: Vec<ForecastItemJson<'a>>,
}

/// `forecast --output json`: the first expiry nothing renews.
#[derive(serde::Serialize)]
struct UnattendedJson<'a> {
    date: &'a str,
    entry: &'a str,
    impact: &'a str,
}

/// `forecast --output json`: one expiry.
#[derive(serde::Serialize)]
struct ForecastItemJson<'a> {
    date: &'a str,
    store: &'a str,
    alias: &'a str,
    subject: &'a str,
    impact: &'a str,
    affected: &'a [String],
    covered_by_renewal: bool,
    already_expired: bool,
}

/// `forecast`.
pub fn forecast(f: &api::ForecastAnswer, output: Output) {
    match output {
        Output::Json => json(&ForecastJson {
            from: &f.from,
            until: &f.until,
            first_unattended: f.first_unattended.as_ref().map(|i| UnattendedJson {
                date: &i.not_after,
                entry: &i.entry,
                impact: &i.impact,
            }),
            items: f
                .items
                .iter()
                .map(|i| {
                    let (store, alias) = i.entry.split_once('/').unwrap_or((i.entry.as_str(), ""));
                    ForecastItemJson {
                        date: &i.not_after,
                        store,
                        alias,
                        subject: &i.subject,
                        impact: &i.impact,
                        affected: &i.affected,
                        covered_by_renewal: i.covered,
                        already_expired: i.already_expired,
                    }
                })
                .collect(),
        }),
        Output::Table => {
            outln!("{}", certherd_ops::rows::forecast_headline(f));
            outln!();
            table(
                &["DATE", "ENTRY", "RENEWED", "AFFECTED", "IMPACT"],
                &f.items
                    .iter()
                    .map(|i| {
                        vec![
                            short_of(&i.not_after),
                            i.entry.clone(),
                            if i.already_expired {
                                "EXPIRED".into()
                            } else if i.covered {
                                "yes".into()
                            } else {
                                "NO".into()
                            },
                            if i.affected.is_empty() {
                                "-".into()
                            } else {
                                i.affected.join(", ")
                            },
                            i.impact.clone(),
                        ]
                    })
                    .collect::<Vec<_>>(),
            );
        }
    }
}

/// `forecast` arguments.
#[derive(Debug, Args)]
pub struct ForecastArgs {
    /// End of the period: RFC 3339, YYYY-MM-DD, or +DURATION [default: +12y, past the root's 10 years].
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
}

/// `forecast`: an operation.
pub fn operation(ops: &mut dyn Operations, a: ForecastArgs) -> Result<ExitCode, Failure> {
    use certherd_core::Clock;
    let until = until_from(certherd_authority::SystemClock.now(), a.until.as_deref())?;
    let f = ops.forecast(Horizon::Until(until))?;
    forecast(&f, a.output);
    Ok(ExitCode::SUCCESS)
}
