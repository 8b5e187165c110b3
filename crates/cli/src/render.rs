//! Rendering: aligned tables for people, JSON for scripts.

use crate::instant::short;
use crate::output::escape;
use certherd_core::OffsetDateTime;
use serde_json::Value;
use std::borrow::Cow;

/// The most characters a table cell shows, the last column excepted: a longer cell is cut
/// and ends in [`ELLIPSIS`]. A certificate or a TLS server chooses its names, and a
/// subject of hundreds of attributes must not push every other column off the screen
/// (nor a padding width past what `format!` takes). JSON output keeps every character.
pub const CELL_MAX: usize = 120;

/// The most characters the last column of a table shows: it pads nothing, so it may be
/// longer than [`CELL_MAX`] (a host's addresses, a finding), but it is bounded too.
pub const LAST_CELL_MAX: usize = 1000;

/// What ends a cell that was cut.
pub const ELLIPSIS: char = '…';

/// `s` cut to at most `max` characters, the last of them [`ELLIPSIS`] when anything was
/// cut. Counts characters, not bytes, so a cut never splits one.
pub fn cut(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => Cow::Borrowed(s),
        Some(_) => {
            let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
            out.push(ELLIPSIS);
            Cow::Owned(out)
        }
    }
}

/// Prints rows as aligned columns under a header. Every cell is escaped with
/// [`escape`], so a name read from a certificate or a file cannot move the cursor, change
/// the terminal or break the row, then cut to [`CELL_MAX`] ([`LAST_CELL_MAX`] in the last
/// column).
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    for line in table_lines(header, rows) {
        outln!("{line}");
    }
}

/// The lines [`table`] prints, header first, without their line breaks.
pub fn table_lines(header: &[&str], rows: &[Vec<String>]) -> Vec<String> {
    let shown = |cells: &[String]| -> Vec<(String, usize)> {
        let last = cells.len().saturating_sub(1);
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let max = if i == last { LAST_CELL_MAX } else { CELL_MAX };
                let c = cut(&escape(c), max).into_owned();
                let n = c.chars().count();
                (c, n)
            })
            .collect()
    };
    let header = shown(&header.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>());
    let rows: Vec<Vec<(String, usize)>> = rows.iter().map(|r| shown(r)).collect();
    let mut widths: Vec<usize> = header.iter().map(|(_, n)| *n).collect();
    for r in &rows {
        for (i, (_, n)) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(*n);
            }
        }
    }
    // Padding is written out rather than asked of `format!` with a width: its width
    // argument is a u16 and panics above 65,535.
    let line = |cells: &[(String, usize)]| {
        let mut s = String::new();
        for (i, (c, n)) in cells.iter().enumerate() {
            s.push_str(c);
            if i + 1 < cells.len() {
                let w = widths.get(i).copied().unwrap_or(0);
                s.extend(std::iter::repeat_n(' ', w.saturating_sub(*n) + 2));
            }
        }
        s.trim_end().to_owned()
    };
    let mut lines = vec![line(&header)];
    lines.extend(rows.iter().map(|r| line(r)));
    lines
}

/// Prints a JSON value, pretty and exact: strings keep every character (JSON escapes what
/// it must), so scripts see what the certificate or file holds.
pub fn json<T: serde::Serialize + ?Sized>(v: &T) {
    // Through a Value: object keys come out sorted, whatever the type's field order.
    let v = serde_json::to_value(v).unwrap_or(Value::Null);
    let mut text = serde_json::to_string_pretty(&v).unwrap_or_else(|_| "null".into());
    text.push('\n');
    if let Err(e) = crate::output::raw(text.as_bytes()) {
        errln!("error: writing to stdout: {e}");
        std::process::exit(1);
    }
}

/// `v` as one line of JSON, keys sorted as [`json`] prints them: for output that streams
/// one element per line.
pub fn json_line<T: serde::Serialize + ?Sized>(v: &T) -> String {
    let v = serde_json::to_value(v).unwrap_or(Value::Null);
    serde_json::to_string(&v).unwrap_or_else(|_| "null".into())
}

/// Header of `cert list`'s table.
pub const ENTRY_HEADER: [&str; 6] = [
    "STORE/ALIAS",
    "SUBJECT",
    "ISSUER",
    "NOT AFTER",
    "DAYS LEFT",
    "STATUS",
];

/// Upper-case hex with colons, from lower-case hex (how openssl and vSphere print thumbprints).
pub fn colon_hex(hex: &str) -> String {
    certherd_x509::thumbprint(hex)
}

/// An RFC 3339 text of the API as a time.
pub fn time_of(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
}

/// An RFC 3339 text as `short` prints it (the text itself if it is not one).
pub(crate) fn short_of(text: &str) -> String {
    time_of(text).map_or_else(|| text.to_owned(), short)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The widest line a table of `columns` columns can print.
    fn bound(columns: usize) -> usize {
        columns.saturating_sub(1) * (CELL_MAX + 2) + LAST_CELL_MAX
    }

    #[test]
    fn cuts_long_cells_with_an_ellipsis_and_keeps_short_ones() {
        assert_eq!(cut("short", 10), "short");
        assert_eq!(cut("exactly10!", 10), "exactly10!");
        assert_eq!(cut("eleven char", 10), "eleven ch…");
        assert_eq!(cut("ééééé", 3), "éé…");
        let lines = table_lines(&["A", "B"], &[vec!["x".repeat(70_000), "y".repeat(70_000)]]);
        assert_eq!(lines.len(), 2);
        let row: Vec<&str> = lines[1].split("  ").collect();
        assert_eq!(row[0].chars().count(), CELL_MAX);
        assert!(row[0].ends_with(ELLIPSIS));
        assert_eq!(row[1].chars().count(), LAST_CELL_MAX);
        assert!(lines[0].starts_with(&format!("A{}B", " ".repeat(CELL_MAX + 1))));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Any text, of any characters and up to 200,000 of them, renders as a cell
        /// without a panic and within the bound.
        #[test]
        fn any_text_renders_within_the_bound(
            cells in proptest::collection::vec(
                proptest::collection::vec(any::<char>(), 0..200_000)
                    .prop_map(|c| c.into_iter().collect::<String>()),
                1..4,
            ),
        ) {
            let header = ["FIRST", "SECOND", "THIRD"];
            let header = &header[..cells.len()];
            let lines = table_lines(header, &[cells.clone(), cells]);
            prop_assert_eq!(lines.len(), 3);
            for l in &lines {
                prop_assert!(l.chars().count() <= bound(header.len()));
                prop_assert!(!l.contains('\n'));
            }
        }
    }
}
