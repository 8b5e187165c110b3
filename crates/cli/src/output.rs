//! Everything the CLI writes: human lines with control characters escaped, exact bytes
//! for JSON and exports, and a closed pipe that ends the command quietly.
//!
//! Rust ignores SIGPIPE, so `println!` panics when the reader of stdout has gone
//! (`certherd cert list | head -1`). Here a write that fails with `BrokenPipe` ends the
//! process at once with [`BROKEN_PIPE_EXIT`] and no message, as a Unix tool killed by
//! SIGPIPE does.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};

/// The exit status when stdout's reader has gone: 128 + SIGPIPE (13), what a shell
/// reports for any tool that a closed pipe ended.
pub const BROKEN_PIPE_EXIT: i32 = 141;

/// Whether `c` is shown escaped in human output: C0 controls, DEL, C1 controls, and the
/// Unicode bidirectional overrides, embeddings, isolates and marks that reorder what a
/// terminal shows.
pub fn is_hidden(c: char) -> bool {
    certherd_x509::is_control_or_bidi(c)
}

/// Escapes `s` for a terminal: every control character (C0 including newline and tab,
/// DEL, C1) and every bidi control becomes `\xHH` or `\u{HHHH}`; other text is unchanged.
/// The one escaping function for human output; JSON is written exact instead.
pub fn escape(s: &str) -> Cow<'_, str> {
    escape_keeping(s, false)
}

/// The longest a value read from a certificate, a file or a server (a finding's message or
/// hint, a subject, a name) is shown inside one line of human output, in characters; JSON
/// keeps it whole.
pub const FIELD_MAX: usize = 1000;

/// `s` as one field of a human line: cut to [`FIELD_MAX`] characters, then every control
/// character escaped, the line break included, so a subject holding "\nCERTHERD OK - ..."
/// cannot add a line of its own to `check`, a scan or a diagnosis.
pub fn field(s: &str) -> String {
    escape(&crate::render::cut(s, FIELD_MAX)).into_owned()
}

/// As [`escape`], but line breaks stay: for text that is already laid out in lines.
pub fn escape_lines(s: &str) -> Cow<'_, str> {
    escape_keeping(s, true)
}

fn escape_keeping(s: &str, newlines: bool) -> Cow<'_, str> {
    let hidden = |c: char| is_hidden(c) && !(newlines && c == '\n');
    if !s.chars().any(hidden) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !hidden(c) {
            out.push(c);
        } else if u32::from(c) < 0x80 {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        } else {
            let _ = write!(out, "\\u{{{:04x}}}", u32::from(c));
        }
    }
    Cow::Owned(out)
}

/// Ends the process quietly if `e` says the reader of stdout has gone; otherwise returns it.
fn pipe_closed_ends(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(BROKEN_PIPE_EXIT);
    }
    e
}

/// Stdout for exact bytes (JSON streams, exports): a closed pipe ends the process quietly.
pub struct Stdout(io::StdoutLock<'static>);

/// Stdout, locked, for writers that stream exact bytes.
pub fn stdout() -> Stdout {
    Stdout(io::stdout().lock())
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf).map_err(pipe_closed_ends)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush().map_err(pipe_closed_ends)
    }
}

/// Writes exact bytes to stdout. A closed pipe ends the process quietly; any other
/// failure (a full disk behind a redirect) is returned.
pub fn raw(bytes: &[u8]) -> io::Result<()> {
    let mut out = stdout();
    out.write_all(bytes)?;
    out.flush()
}

/// Writes human text to stdout with control characters escaped (line breaks kept).
/// Backs `outln!` and `out!`. A closed pipe ends the process quietly;
/// another write failure ends it with status 1 and one line on stderr, as `println!`
/// would have panicked.
pub fn human(args: std::fmt::Arguments<'_>) {
    let text = match args.as_str() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(args.to_string()),
    };
    if let Err(e) = raw(escape_lines(&text).as_bytes()) {
        error_line(format_args!("error: writing to stdout: {e}"));
        std::process::exit(1);
    }
}

/// Writes human text to stderr with control characters escaped (line breaks kept).
/// Backs `errln!`. A failure to write to stderr is ignored: there is nowhere left
/// to say it.
pub fn error_line(args: std::fmt::Arguments<'_>) {
    let text = args.to_string();
    let mut err = io::stderr().lock();
    let _ = err.write_all(escape_lines(&text).as_bytes());
    let _ = err.write_all(b"\n");
}

/// `println!` for human output: control characters escaped, a closed pipe ends quietly.
macro_rules! outln {
    () => {
        $crate::output::human(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::human(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` for human output: control characters escaped, a closed pipe ends quietly.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::human(format_args!($($arg)*))
    };
}

/// `eprintln!` for human output: control characters escaped, never panics.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::output::error_line(format_args!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_and_bidi_but_not_text() {
        assert_eq!(
            escape("CN=\u{1b}]0;title\u{7}\u{1b}[2J"),
            "CN=\\x1b]0;title\\x07\\x1b[2J"
        );
        assert_eq!(escape("a\u{7f}b\u{9b}c"), "a\\x7fb\\u{009b}c");
        assert_eq!(escape("evil\u{202e}fdp.exe"), "evil\\u{202e}fdp.exe");
        assert_eq!(escape("two\nlines\t"), "two\\x0alines\\x09");
        assert_eq!(escape_lines("two\nlines\r"), "two\nlines\\x0d");
        assert!(matches!(
            escape("Zürich, O=Ünïcode \\, Ltd"),
            Cow::Borrowed(_)
        ));
    }
}
