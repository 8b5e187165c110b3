//! The HTML report: one self-contained file (inline CSS and SVG, no scripts, nothing
//! fetched) with an expiry timeline, the inventory by node and store, open alarms and the
//! forecast. A pure function of its input: no clock, no I/O, the same bytes every time.

use std::fmt::Write as _;

use time::OffsetDateTime;

/// Everything the report shows.
pub struct ReportData {
    /// The page title, e.g. "certherd report: vc01.example.com".
    pub title: String,
    /// The instant the report evaluates (UTC).
    pub generated_at: OffsetDateTime,
    /// The inventory.
    pub rows: Vec<ReportRow>,
    /// What needs attention, as `certherd check` reports it: certificates by their
    /// status, watched endpoints and files by their worst finding.
    pub attention: Vec<ReportAlarm>,
    /// The open alarms, as `certherd alarms` lists them (the same count).
    pub alarms: Vec<ReportAlarm>,
    /// Expiries, soonest first.
    pub forecast: Vec<ForecastItem>,
    /// The forecast's headline: the first unattended breakage.
    pub headline: Option<String>,
}

/// One certificate of the inventory.
pub struct ReportRow {
    /// The node it lives on or is watched from.
    pub node: String,
    /// Its store.
    pub store: String,
    /// Its alias.
    pub alias: String,
    /// Its subject.
    pub subject: String,
    /// Its profile, or "".
    pub profile: String,
    /// When it lapses.
    pub not_after: OffsetDateTime,
    /// Whole days left.
    pub days_left: i64,
    /// Its status name (`ok`, `expiring`, `critical`, `expired`, `superseded`...).
    pub status: String,
    /// Whether automatic renewal covers it.
    pub auto_renew: bool,
}

/// One open problem.
pub struct ReportAlarm {
    /// WARNING, CRITICAL or UNKNOWN.
    pub severity: String,
    /// The entry or endpoint it is about.
    pub subject: String,
    /// What is wrong.
    pub message: String,
}

/// One expiry on the forecast.
pub struct ForecastItem {
    /// When it lapses.
    pub date: OffsetDateTime,
    /// The entry, `store/alias`.
    pub entry: String,
    /// What stops working.
    pub impact: String,
    /// Services affected through dependencies.
    pub affected: Vec<String>,
    /// Whether automatic renewal covers it.
    pub auto_renew: bool,
}

/// The inventory as the report shows it: every entry of `node` at `now`, a fleet host's
/// certificates under the host they live on, the rest under `hostname`.
pub fn rows<S: certherd_store::Store>(
    node: &crate::Node<S>,
    hostname: &str,
    now: OffsetDateTime,
) -> Result<Vec<ReportRow>, crate::Error> {
    Ok(node
        .list(None, now)?
        .into_iter()
        .map(|v| ReportRow {
            // A fleet host's certificates are shown under the host they live on.
            node: if [crate::HOSTS_STORE, crate::POOL_STORE].contains(&v.meta.entry.store.as_str())
            {
                v.meta.entry.alias.to_string()
            } else {
                hostname.to_owned()
            },
            store: v.meta.entry.store.to_string(),
            alias: v.meta.entry.alias.to_string(),
            subject: v.meta.subject.clone(),
            profile: v.meta.profile.clone().unwrap_or_default(),
            not_after: v.meta.not_after,
            days_left: v.days_left,
            status: v.status.as_str().to_owned(),
            auto_renew: v.auto_renew,
        })
        .collect())
}

/// The most characters a name shows in the report (subject, store, alias, node, profile):
/// a longer one is cut and ends in "…". A certificate chooses its subject, and hundreds of
/// attributes must not make the page unreadable; `cert list --output json` has every
/// character.
pub const NAME_MAX: usize = 120;

/// The most characters a longer text shows in the report (an alarm's message, the
/// services a forecast names).
pub const TEXT_MAX: usize = 1000;

/// `s` cut to at most `max` characters, the last of them "…" when anything was cut.
fn cut(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => std::borrow::Cow::Borrowed(s),
        Some(_) => {
            let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
            out.push('…');
            std::borrow::Cow::Owned(out)
        }
    }
}

/// A name for the page: cut to [`NAME_MAX`], then escaped.
fn name(s: &str) -> String {
    escape(&cut(s, NAME_MAX))
}

/// A longer text for the page: cut to [`TEXT_MAX`], then escaped.
fn text(s: &str) -> String {
    escape(&cut(s, TEXT_MAX))
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn day(t: OffsetDateTime) -> String {
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

fn rfc3339(t: OffsetDateTime) -> String {
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        day(t),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// The colour class of a status.
fn status_class(status: &str) -> &'static str {
    match status {
        "ok" => "ok",
        "expiring" => "warn",
        "critical" | "expired" | "invalid" | "not-yet-valid" => "bad",
        _ => "other",
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222}\
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em}\
.headline{font-size:1.1em;padding:.6em 1em;background:#fff4e5;border-left:4px solid #e68a00}\
table{border-collapse:collapse;font-size:.9em}th,td{padding:.25em .7em;border-bottom:1px solid #ddd;text-align:left}\
th{background:#f3f3f3}.ok{color:#1b7f3b}.warn{color:#b36b00;font-weight:bold}.bad{color:#c0262d;font-weight:bold}\
.other{color:#777}tr.uncovered td{background:#fdecec}svg text{font-size:11px;fill:#444}";

const WIDTH: f64 = 900.0;
const LEFT: f64 = 150.0;
const RIGHT: f64 = 20.0;
const LANE: f64 = 22.0;

/// The expiry timeline alone: an SVG with a lane per store and a marker per live
/// certificate at its notAfter, from `data.generated_at` (as the report and the web
/// console show it).
pub fn timeline(data: &ReportData) -> String {
    let rows: Vec<&ReportRow> = data
        .rows
        .iter()
        .filter(|r| r.status != "superseded")
        .collect();
    let start = data.generated_at;
    let cap = start + time::Duration::days(365 * 12);
    let latest = rows.iter().map(|r| r.not_after).max().unwrap_or(start);
    let end = latest.max(start + time::Duration::days(365)).min(cap);
    let span = (end - start).whole_seconds().max(1) as f64;
    let x = |t: OffsetDateTime| {
        let t = t.clamp(start, end);
        LEFT + (WIDTH - LEFT - RIGHT) * ((t - start).whole_seconds() as f64 / span)
    };
    let mut lanes: Vec<String> = rows.iter().map(|r| r.store.clone()).collect();
    lanes.sort();
    lanes.dedup();
    let height = 40.0 + LANE * lanes.len().max(1) as f64 + 30.0;
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg id=\"timeline\" role=\"img\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\">\
<title>Expiry timeline from {} to {}</title>",
        day(start),
        day(end)
    );
    let axis_y = height - 25.0;
    let _ = write!(
        s,
        "<line x1=\"{LEFT}\" y1=\"{axis_y}\" x2=\"{}\" y2=\"{axis_y}\" stroke=\"#999\"/>",
        WIDTH - RIGHT
    );
    // Ticks: years, or months when the range is under two years.
    let monthly = end - start < time::Duration::days(730);
    let mut tick = time::Date::from_calendar_date(
        start.year(),
        if monthly {
            start.month()
        } else {
            time::Month::January
        },
        1,
    )
    .map(|d| d.midnight().assume_utc())
    .unwrap_or(start);
    while tick <= end {
        if tick >= start {
            let tx = x(tick);
            let label = if monthly {
                format!("{:04}-{:02}", tick.year(), u8::from(tick.month()))
            } else {
                tick.year().to_string()
            };
            let _ = write!(
                s,
                "<line x1=\"{tx:.1}\" y1=\"30\" x2=\"{tx:.1}\" y2=\"{axis_y}\" stroke=\"#eee\"/><text x=\"{tx:.1}\" y=\"{}\" text-anchor=\"middle\">{label}</text>",
                axis_y + 15.0
            );
        }
        let next = if monthly {
            tick.month().next()
        } else {
            tick.month()
        };
        let year = if !monthly || next == time::Month::January {
            tick.year() + 1
        } else {
            tick.year()
        };
        match time::Date::from_calendar_date(year, next, 1) {
            Ok(d) => tick = d.midnight().assume_utc(),
            Err(_) => break,
        }
    }
    let now_x = x(start);
    let _ = write!(s, "<line x1=\"{now_x:.1}\" y1=\"20\" x2=\"{now_x:.1}\" y2=\"{axis_y}\" stroke=\"#333\"/><text x=\"{now_x:.1}\" y=\"15\">now</text>");
    let warn_x = x(start + time::Duration::days(30));
    let _ = write!(s, "<line x1=\"{warn_x:.1}\" y1=\"20\" x2=\"{warn_x:.1}\" y2=\"{axis_y}\" stroke=\"#e68a00\" stroke-dasharray=\"4 3\"/><text x=\"{:.1}\" y=\"28\">30 d</text>", warn_x + 3.0);
    if rows.is_empty() {
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\">no certificates</text>",
            LEFT + 10.0,
            40.0 + LANE / 2.0
        );
    }
    for (i, lane) in lanes.iter().enumerate() {
        let y = 40.0 + LANE * i as f64 + LANE / 2.0;
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            LEFT - 8.0,
            y + 4.0,
            name(lane)
        );
        for r in rows.iter().filter(|r| &r.store == lane) {
            let colour = match status_class(&r.status) {
                "ok" => "#1b7f3b",
                "warn" => "#e68a00",
                "bad" => "#c0262d",
                _ => "#888",
            };
            let _ = write!(
                s,
                "<circle cx=\"{:.1}\" cy=\"{y:.1}\" r=\"5\" fill=\"{colour}\"><title>{}/{} — not after {}</title></circle>",
                x(r.not_after),
                name(&r.store),
                name(&r.alias),
                day(r.not_after)
            );
        }
    }
    s.push_str("</svg>");
    s
}

/// One table of problems (the attention list or the open alarms) under `title`.
fn problems_section(h: &mut String, id: &str, title: &str, none: &str, items: &[ReportAlarm]) {
    let _ = write!(h, "<section id=\"{id}\"><h2>{title}</h2>");
    if items.is_empty() {
        let _ = write!(h, "<p>{none}</p>");
    } else {
        h.push_str("<table><thead><tr><th>SEVERITY</th><th>SUBJECT</th><th>MESSAGE</th></tr></thead><tbody>");
        for a in items {
            let class = if a.severity == "CRITICAL" {
                "bad"
            } else {
                "warn"
            };
            let _ = write!(
                h,
                "<tr><td class=\"{class}\">{}</td><td>{}</td><td>{}</td></tr>",
                escape(&a.severity),
                name(&a.subject),
                text(&a.message)
            );
        }
        h.push_str("</tbody></table>");
    }
    h.push_str("</section>");
}

/// The whole document.
pub fn render(data: &ReportData) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title><style>{STYLE}</style></head><body><h1>{t}</h1><p>Evaluated at {}</p>",
        rfc3339(data.generated_at),
        t = escape(&data.title)
    );
    if let Some(head) = &data.headline {
        let _ = write!(
            h,
            "<p class=\"headline\" id=\"headline\">{}</p>",
            text(head)
        );
    }
    h.push_str("<h2>Expiry timeline</h2>");
    h.push_str(&timeline(data));

    h.push_str("<h2>Inventory</h2><table id=\"inventory\"><thead><tr><th>NODE</th><th>STORE/ALIAS</th><th>SUBJECT</th><th>PROFILE</th><th>NOT AFTER</th><th>DAYS LEFT</th><th>STATUS</th><th>AUTO-RENEW</th></tr></thead><tbody>");
    let mut rows: Vec<&ReportRow> = data.rows.iter().collect();
    rows.sort_by(|a, b| (&a.node, &a.store, &a.alias).cmp(&(&b.node, &b.store, &b.alias)));
    for r in rows {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}/{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td></tr>",
            name(&r.node),
            name(&r.store),
            name(&r.alias),
            name(&r.subject),
            name(&r.profile),
            day(r.not_after),
            r.days_left,
            status_class(&r.status),
            escape(&r.status),
            if r.auto_renew { "yes" } else { "no" }
        );
    }
    h.push_str("</tbody></table>");

    problems_section(
        &mut h,
        "attention",
        "Needs attention (certherd check)",
        "Nothing needs attention.",
        &data.attention,
    );
    problems_section(
        &mut h,
        "alarms",
        "Open alarms (certherd alarms)",
        "No open alarms.",
        &data.alarms,
    );

    h.push_str("<section id=\"forecast\"><h2>Forecast</h2>");
    if data.forecast.is_empty() {
        h.push_str("<p>Nothing expires in the period.</p>");
    } else {
        h.push_str("<table><thead><tr><th>DATE</th><th>ENTRY</th><th>IMPACT</th><th>AFFECTED</th><th>COVERED BY RENEWAL</th></tr></thead><tbody>");
        for f in &data.forecast {
            let _ = write!(
                h,
                "<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                if f.auto_renew {
                    ""
                } else {
                    " class=\"uncovered\""
                },
                day(f.date),
                name(&f.entry),
                text(&f.impact),
                text(&f.affected.join(", ")),
                if f.auto_renew { "yes" } else { "no" }
            );
        }
        h.push_str("</tbody></table>");
    }
    h.push_str("</section></body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-06-01 0:00 UTC);

    fn row(store: &str, alias: &str, days: i64, status: &str) -> ReportRow {
        ReportRow {
            node: "vc01".into(),
            store: store.into(),
            alias: alias.into(),
            subject: format!("CN={alias}"),
            profile: "host".into(),
            not_after: NOW + time::Duration::days(days),
            days_left: days,
            status: status.into(),
            auto_renew: true,
        }
    }

    fn data(rows: Vec<ReportRow>) -> ReportData {
        ReportData {
            title: "certherd report: vc01".into(),
            generated_at: NOW,
            rows,
            attention: Vec::new(),
            alarms: vec![ReportAlarm {
                severity: "CRITICAL".into(),
                subject: "endpoints/wlb".into(),
                message: "name-mismatch".into(),
            }],
            forecast: vec![ForecastItem {
                date: NOW,
                entry: "endpoints/wlb".into(),
                impact: "WLB stops".into(),
                affected: vec!["wlb".into()],
                auto_renew: false,
            }],
            headline: Some("2026-06-01: endpoints/wlb lapses".into()),
        }
    }

    #[test]
    fn long_names_are_cut_for_display() {
        let mut r = row("web", "x", 10, "ok");
        r.subject = format!("CN=x,{}", "OU=<unit>,".repeat(30_000));
        let mut d = data(vec![r]);
        d.alarms[0].message = "m".repeat(100_000);
        let html = render(&d);
        let cell = format!(
            "{}…",
            escape(
                &format!("CN=x,{}", "OU=<unit>,".repeat(30_000))
                    .chars()
                    .take(NAME_MAX - 1)
                    .collect::<String>()
            )
        );
        assert!(html.contains(&format!("<td>{cell}</td>")), "subject cut");
        assert!(html.contains(&format!("<td>{}…</td>", "m".repeat(TEXT_MAX - 1))));
        assert!(html.len() < 20_000, "{}", html.len());
    }

    #[test]
    fn escapes_text_and_fetches_nothing() {
        let mut r = row("web", "x", 10, "ok");
        r.subject = "<script>alert(1)</script>".into();
        let html = render(&data(vec![r]));
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        for bad in ["http://", "https://", "src=", "<link"] {
            assert!(!html.contains(bad), "{bad}");
        }
    }

    #[test]
    fn one_marker_per_live_certificate_and_clamped_dates() {
        let rows = vec![
            row("a", "1", 10, "ok"),
            row("a", "2", -40, "expired"),
            row("b", "3", 2_600_000, "ok"),
            row("backup", "old", 5, "superseded"),
        ];
        let html = render(&data(rows));
        assert_eq!(html.matches("<circle").count(), 3);
        assert!(html.contains("id=\"inventory\"") && html.contains("backup/old"));
        assert!(
            html.contains("name-mismatch")
                && html.contains("WLB stops")
                && html.contains("class=\"uncovered\"")
        );
        assert!(html.contains("id=\"headline\""));
    }

    #[test]
    fn empty_inventory_renders() {
        let d = ReportData {
            title: "t".into(),
            generated_at: NOW,
            rows: vec![],
            attention: vec![],
            alarms: vec![],
            forecast: vec![],
            headline: None,
        };
        let html = render(&d);
        assert!(html.contains("no certificates") && html.contains("No open alarms."));
        assert_eq!(render(&d), html, "deterministic");
    }
}
