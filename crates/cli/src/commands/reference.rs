//! `reference --out DIR` (hidden): the book's reference pages (`docs/src/reference`),
//! generated from the code so they cannot drift from it.
//!
//! - every command and flag: the clap tree the binary parses (one page per noun);
//! - every certherd.toml key: the schema of [`certherd_core::Settings`], derived from the
//!   same serde definitions the parser reads, with each key's default;
//! - the admin API: the OpenAPI document the server serves at `GET /v1/openapi.json`;
//! - the webhook body: [`certherd_protocol::webhook::WebhookNotification`];
//! - the Prometheus metrics: the text [`certherd_core::render_metrics`] writes.
//!
//! Hidden because it serves the documentation build (`.ci/book` regenerates the pages and
//! fails when the checked-in ones differ), not an admin at a prompt.

use crate::Failure;
use clap::{ArgAction, Args, CommandFactory};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `reference` arguments.
#[derive(Debug, Args)]
pub struct ReferenceArgs {
    /// The directory to write the pages into (created when missing). Pages there that the
    /// generator no longer writes (a removed command's) are deleted.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// One generated file: its path under the output directory (`/`-separated) and its text.
pub struct Page {
    /// The path, e.g. `commands/cert.md`.
    pub path: String,
    /// The file's text.
    pub text: String,
}

/// The line every generated markdown page starts with.
const GENERATED: &str = "<!-- Generated from the code by `certherd reference --out docs/src/reference` (.ci/book checks it): do not edit. -->\n\n";

/// Every page of the reference.
pub fn pages() -> Vec<Page> {
    let mut pages = command_pages();
    pages.push(Page {
        path: "configuration.md".into(),
        text: configuration_page(),
    });
    let doc = certherd_protocol::admin::openapi(env!("CARGO_PKG_VERSION"));
    pages.push(Page {
        path: "admin-api.md".into(),
        text: admin_api_page(&doc),
    });
    pages.push(Page {
        path: "openapi.json".into(),
        text: format!(
            "{}\n",
            serde_json::to_string_pretty(&doc).unwrap_or_default()
        ),
    });
    pages.push(Page {
        path: "webhooks.md".into(),
        text: webhooks_page(),
    });
    pages.push(Page {
        path: "metrics.md".into(),
        text: metrics_page(),
    });
    pages.push(Page {
        path: "index.md".into(),
        text: index_page(),
    });
    pages.sort_by(|a, b| a.path.cmp(&b.path));
    pages
}

/// Writes every page into `dir` and deletes the files there (and in `dir/commands`) that
/// are no longer generated; returns the paths written.
fn write_pages(dir: &Path) -> Result<Vec<PathBuf>, Failure> {
    let pages = pages();
    let mut written = Vec::with_capacity(pages.len());
    for page in &pages {
        let path = dir.join(&page.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Failure::file(parent, e))?;
        }
        std::fs::write(&path, &page.text).map_err(|e| Failure::file(&path, e))?;
        written.push(path);
    }
    for sub in [dir.to_path_buf(), dir.join("commands")] {
        let entries = std::fs::read_dir(&sub).map_err(|e| Failure::file(&sub, e))?;
        for entry in entries {
            let path = entry.map_err(|e| Failure::file(&sub, e))?.path();
            let ours = path.extension().is_some_and(|x| x == "md" || x == "json");
            if ours && path.is_file() && !written.contains(&path) {
                std::fs::remove_file(&path).map_err(|e| Failure::file(&path, e))?;
            }
        }
    }
    Ok(written)
}

/// `reference`: writes the pages and prints each path, one a line.
pub fn run(a: ReferenceArgs) -> Result<ExitCode, Failure> {
    for path in write_pages(&a.out)? {
        outln!("{}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------------------
// Markdown

/// Help or doc text as markdown: outside `code spans`, the characters markdown would read
/// as markup are escaped; rustdoc's brackets around a code span (intra-doc links) are
/// dropped.
fn md(text: &str) -> String {
    let text = text.replace("[`", "`").replace("`]", "`");
    let mut out = String::with_capacity(text.len());
    for (n, line) in text.split('\n').enumerate() {
        if n > 0 {
            out.push('\n');
        }
        let line = if let Some(rest) = line.strip_prefix('#') {
            out.push_str("\\#");
            rest
        } else {
            line
        };
        let spans: Vec<&str> = line.split('`').collect();
        // An unpaired backtick is text, like everything after it.
        let paired = spans.len() % 2 == 1;
        for (i, span) in spans.iter().enumerate() {
            let code = i % 2 == 1 && (paired || i + 1 < spans.len() - 1);
            if code {
                out.push('`');
                out.push_str(span);
                out.push('`');
                continue;
            }
            if i % 2 == 1 {
                out.push_str("\\`");
            }
            for c in span.chars() {
                match c {
                    '<' => out.push_str("&lt;"),
                    '>' => out.push_str("&gt;"),
                    '\\' | '*' | '_' | '[' | ']' => {
                        out.push('\\');
                        out.push(c);
                    }
                    c => out.push(c),
                }
            }
        }
    }
    out
}

/// [`md`] for a table cell: on one line, `|` escaped.
fn cell(text: &str) -> String {
    md(&text.split_whitespace().collect::<Vec<_>>().join(" ")).replace('|', "\\|")
}

/// The id mdBook gives a heading: lower case, spaces as `-`, only letters, digits, `-`
/// and `_` kept.
fn anchor(heading: &str) -> String {
    heading
        .chars()
        .filter_map(|c| match c {
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c.to_ascii_lowercase()),
            c if c.is_whitespace() => Some('-'),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Commands and flags

/// The command tree as the binary parses it, with every subcommand's full name set.
fn command_tree() -> clap::Command {
    let mut root = super::Cli::command().disable_help_subcommand(true);
    root.build();
    root
}

/// The subcommands a reader can type: neither hidden nor `help`.
fn visible(cmd: &clap::Command) -> impl Iterator<Item = &clap::Command> {
    cmd.get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
}

/// A command's full name (`certherd cert issue`).
fn full_name(cmd: &clap::Command) -> String {
    cmd.get_bin_name().unwrap_or(cmd.get_name()).to_owned()
}

/// `certherd.md`, the global options and the list of commands; then one page per noun.
fn command_pages() -> Vec<Page> {
    let root = command_tree();
    let mut text = String::from(GENERATED);
    text.push_str("# certherd\n\n");
    about(&mut text, &root);
    usage(&mut text, &root);
    text.push_str("## Global options\n\nGiven before or after the command (`--server`, `--credential` and `--ca-fingerprint` before it). Every command also takes `-h`/`--help`, and `certherd --version` prints the version.\n\n");
    options(&mut text, &root, true);
    text.push_str("## Commands\n\n");
    for sub in visible(&root) {
        let _ = writeln!(
            text,
            "- [{}]({}.md): {}",
            full_name(sub),
            sub.get_name(),
            cell(&sub.get_about().map(ToString::to_string).unwrap_or_default())
        );
    }
    let mut pages = vec![Page {
        path: "commands/certherd.md".into(),
        text,
    }];
    for sub in visible(&root) {
        let mut text = String::from(GENERATED);
        section(&mut text, sub, 1);
        pages.push(Page {
            path: format!("commands/{}.md", sub.get_name()),
            text,
        });
    }
    pages
}

/// One command's section (a heading of `depth`), then its subcommands' one level deeper.
fn section(out: &mut String, cmd: &clap::Command, depth: usize) {
    let name = full_name(cmd);
    let _ = writeln!(out, "{} {name}\n", "#".repeat(depth.min(6)));
    about(out, cmd);
    usage(out, cmd);
    arguments(out, cmd);
    options(out, cmd, false);
    let subs: Vec<&clap::Command> = visible(cmd).collect();
    if !subs.is_empty() {
        out.push_str("**Subcommands**\n\n");
        for sub in &subs {
            let sub_name = full_name(sub);
            let _ = writeln!(
                out,
                "- [{sub_name}](#{}): {}",
                anchor(&sub_name),
                cell(&sub.get_about().map(ToString::to_string).unwrap_or_default())
            );
        }
        out.push('\n');
        for sub in subs {
            section(out, sub, depth + 1);
        }
    }
}

/// The command's long help, else its short one.
fn about(out: &mut String, cmd: &clap::Command) {
    if let Some(text) = cmd.get_long_about().or(cmd.get_about()) {
        let _ = writeln!(out, "{}\n", md(text.to_string().trim()));
    }
}

/// The usage line clap prints.
fn usage(out: &mut String, cmd: &clap::Command) {
    let line = cmd.clone().render_usage().to_string();
    let line = line.trim().trim_start_matches("Usage:").trim();
    let _ = writeln!(out, "```text\n{line}\n```\n");
}

/// Whether an argument belongs in the reference: not hidden, not `--help`/`--version`.
fn shown(a: &clap::Arg) -> bool {
    !a.is_hide_set()
        && !matches!(
            a.get_action(),
            ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong | ArgAction::Version
        )
}

/// The names of the values an argument takes (`<DIR>`).
fn value_names(a: &clap::Arg) -> Vec<String> {
    match a.get_value_names() {
        Some(names) => names.iter().map(|n| format!("<{n}>")).collect(),
        None => vec![format!("<{}>", a.get_id().as_str().to_uppercase())],
    }
}

/// Whether the argument takes more than one value.
fn multiple(a: &clap::Arg) -> bool {
    matches!(a.get_action(), ArgAction::Append)
        || a.get_num_args().is_some_and(|r| r.max_values() > 1)
}

/// The positional arguments, with their help.
fn arguments(out: &mut String, cmd: &clap::Command) {
    let args: Vec<&clap::Arg> = cmd
        .get_positionals()
        .filter(|a| shown(a) && !a.is_global_set())
        .collect();
    if args.is_empty() {
        return;
    }
    out.push_str("**Arguments**\n\n");
    for a in args {
        let mut name = value_names(a).join(" ");
        if multiple(a) {
            name.push_str("...");
        }
        if !a.is_required_set() {
            name = format!("[{name}]");
        }
        item(out, &name, a);
    }
    out.push('\n');
}

/// The options (with `globals`, those given to every command; without, the command's own).
fn options(out: &mut String, cmd: &clap::Command, globals: bool) {
    let args: Vec<&clap::Arg> = cmd
        .get_arguments()
        .filter(|a| !a.is_positional() && shown(a) && (globals || !a.is_global_set()))
        .collect();
    if args.is_empty() {
        return;
    }
    if !globals {
        out.push_str("**Options**\n\n");
    }
    for a in args {
        let mut names = Vec::new();
        if let Some(s) = a.get_short() {
            names.push(format!("-{s}"));
        }
        if let Some(l) = a.get_long() {
            names.push(format!("--{l}"));
        }
        let mut name = names.join(", ");
        if a.get_action().takes_values() {
            let _ = write!(name, " {}", value_names(a).join(" "));
            if multiple(a) {
                name.push_str("...");
            }
        }
        item(out, &name, a);
    }
    out.push('\n');
}

/// One argument as a list item: its name, help, default, values and variable.
fn item(out: &mut String, name: &str, a: &clap::Arg) {
    let help = a
        .get_long_help()
        .or(a.get_help())
        .map(|h| h.to_string())
        .unwrap_or_default();
    let mut line = format!("- `{name}`");
    let help = help.trim();
    if !help.is_empty() {
        let _ = write!(line, ": {}", cell(help));
        if !help.ends_with(['.', '!', '?', ':', ')', ']']) {
            line.push('.');
        }
    }
    if a.is_required_set() && !a.is_positional() {
        line.push_str(" Required.");
    }
    let defaults: Vec<String> = a
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    if a.get_action().takes_values() && !defaults.is_empty() {
        let _ = write!(line, " Default: `{}`.", defaults.join(","));
    }
    if let Some(env) = a.get_env() {
        let _ = write!(line, " Environment: `{}`.", env.to_string_lossy());
    }
    let values: Vec<clap::builder::PossibleValue> = if a.get_action().takes_values() {
        a.get_possible_values()
            .into_iter()
            .filter(|v| !v.is_hide_set())
            .collect()
    } else {
        Vec::new()
    };
    out.push_str(&line);
    out.push('\n');
    if values.iter().any(|v| v.get_help().is_some()) {
        for v in &values {
            let help = v.get_help().map(|h| h.to_string()).unwrap_or_default();
            let _ = writeln!(out, "  - `{}`: {}", v.get_name(), cell(&help));
        }
    } else if !values.is_empty() {
        let names: Vec<String> = values
            .iter()
            .map(|v| format!("`{}`", v.get_name()))
            .collect();
        let _ = writeln!(out, "  - Values: {}", names.join(", "));
    }
}

// ---------------------------------------------------------------------------------------
// certherd.toml

/// One TOML table of certherd.toml as the reference shows it.
struct Table {
    /// `[check]`, `[[agent.targets]]`, `[profiles.NAME]`.
    header: String,
    /// The dotted path of its keys (`agent.targets`, `profiles.NAME`).
    path: String,
    /// What the table is for.
    about: String,
    /// Its keys.
    rows: Vec<Row>,
}

/// One key of a table.
struct Row {
    /// The key in its table.
    key: String,
    /// What it takes.
    kind: String,
    /// Its description.
    about: String,
}

/// The schema of certherd.toml, derived from the settings the parser reads.
fn settings_schema() -> Value {
    Value::from(schemars::schema_for!(certherd_core::Settings))
}

/// `$ref`s resolved and `Option`'s null taken away.
fn resolve<'a>(root: &'a Value, s: &'a Value) -> &'a Value {
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or_default();
        let defs = root
            .get("$defs")
            .or_else(|| root.pointer("/components/schemas"));
        if let Some(def) = defs.and_then(|d| d.get(name)) {
            return resolve(root, def);
        }
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(list) = s.get(key).and_then(Value::as_array) {
            let non_null: Vec<&Value> = list
                .iter()
                .filter(|v| v.get("type").and_then(Value::as_str) != Some("null"))
                .collect();
            if let [one] = non_null[..] {
                return resolve(root, one);
            }
        }
    }
    s
}

/// The description of a schema (its own, else that of what it refers to).
fn description(root: &Value, s: &Value) -> String {
    s.get("description")
        .or_else(|| resolve(root, s).get("description"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// A schema's `type`, `null` aside.
fn json_type(s: &Value) -> Option<&str> {
    match s.get("type") {
        Some(Value::String(t)) => Some(t),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).find(|t| *t != "null"),
        _ => None,
    }
}

/// An object schema with properties: a table of its own.
fn is_table(s: &Value) -> bool {
    json_type(s) == Some("object") && s.get("properties").is_some()
}

/// What a settings key takes, in words.
fn toml_kind(root: &Value, s: &Value) -> String {
    let s = resolve(root, s);
    if let Some(kind) = s.get("x-kind").and_then(Value::as_str) {
        return kind.to_owned();
    }
    if let Some(values) = s.get("enum").and_then(Value::as_array) {
        let names: Vec<String> = values
            .iter()
            .filter(|v| !v.is_null())
            .map(|v| format!("`{v}`"))
            .collect();
        return names.join(" or ");
    }
    match json_type(s) {
        Some("array") => format!(
            "list of {}",
            s.get("items")
                .map_or_else(|| "values".into(), |i| toml_kind(root, i))
        ),
        Some("number") => "number".into(),
        Some("integer") => "integer".into(),
        Some(t) => t.into(),
        None => "value".into(),
    }
}

/// The tables of certherd.toml, in the order a reader meets them.
fn settings_tables(root: &Value) -> Vec<Table> {
    let mut tables = Vec::new();
    let mut top = Table {
        header: "(top level)".into(),
        path: String::new(),
        about: String::new(),
        rows: Vec::new(),
    };
    walk_table(root, root, "", &mut top, &mut tables);
    if !top.rows.is_empty() {
        tables.insert(0, top);
    }
    tables
}

/// Sorts `schema`'s properties into `table`'s rows and further tables.
fn walk_table(root: &Value, schema: &Value, path: &str, table: &mut Table, out: &mut Vec<Table>) {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    let mut nested = Vec::new();
    for (key, prop) in props {
        let full = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        let target = resolve(root, prop);
        // The field's doc says what the table is for; the struct's is the code's.
        let about = description(root, prop);
        if is_table(target) {
            nested.push((format!("[{full}]"), full, about, target));
        } else if json_type(target) == Some("array")
            && target
                .get("items")
                .is_some_and(|i| is_table(resolve(root, i)))
        {
            if let Some(items) = target.get("items") {
                nested.push((format!("[[{full}]]"), full, about, resolve(root, items)));
            }
        } else if json_type(target) == Some("object")
            && target
                .get("additionalProperties")
                .is_some_and(|i| is_table(resolve(root, i)))
        {
            if let Some(items) = target.get("additionalProperties") {
                let name = format!("{full}.NAME");
                nested.push((format!("[{name}]"), name, about, resolve(root, items)));
            }
        } else {
            table.rows.push(Row {
                key: key.clone(),
                kind: toml_kind(root, prop),
                about,
            });
        }
    }
    for (header, path, about, schema) in nested {
        let mut sub = Table {
            header,
            path: path.clone(),
            about,
            rows: Vec::new(),
        };
        let at = out.len();
        walk_table(root, schema, &path, &mut sub, out);
        out.insert(at, sub);
    }
}

/// Formats a fraction without trailing noise (`0.667`, `0.05`).
fn fraction(f: f64) -> String {
    let s = format!("{f:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// The default of a certherd.toml key (`check.warn`, `agent.targets.dir`), from the code's
/// own defaults where they are named; `None` for a key this table does not know, which
/// the tests refuse, so a new key cannot go undocumented.
fn default_of(key: &str) -> Option<String> {
    use certherd_core::{
        CrlPolicy, DatabaseSettings, RenewalPolicy, ServerLimits, Settings, TargetLayout,
        Thresholds,
    };
    let secs = |d: std::time::Duration| {
        certherd_core::Span::seconds(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)).to_string()
    };
    let limits = ServerLimits::default();
    let none = || "none".to_owned();
    Some(match key {
        "check.warn" => Thresholds::default().warn.to_string(),
        "check.crit" => Thresholds::default().crit.to_string(),
        "renewal.at" => format!("{} of the lifetime", fraction(RenewalPolicy::default().at)),
        "renewal.jitter" => format!(
            "{} of the lifetime",
            fraction(RenewalPolicy::default().jitter)
        ),
        "backup.retention" => Settings::default().backup_retention().to_string(),
        "profiles.NAME.lifetime" | "profiles.NAME.key_algo" | "profiles.NAME.impact" => {
            "the built-in profile's (`certherd profile list`)".into()
        }
        "profiles.NAME.depends_on" | "services.NAME.depends_on" | "fleet.servers" => "empty".into(),
        "services.NAME.impact" | "agent.reload" | "crl.url" => none(),
        "webhooks.url" => "required".into(),
        "webhooks.retries" => "3".into(),
        "webhooks.backoff" => "1s".into(),
        "fleet.heartbeat_window" => "5m".into(),
        "agent.targets.entry" => "the host certificate, for a `layout` target".into(),
        "agent.targets.cert" | "agent.targets.key" | "agent.targets.layout" => none(),
        "agent.targets.dir" => format!(
            "`{}` (libvirt), `{}` (qemu)",
            TargetLayout::Libvirt.default_dir(),
            TargetLayout::Qemu.default_dir()
        ),
        "agent.targets.reload" => format!(
            "`{}` (libvirt), none (qemu)",
            TargetLayout::Libvirt.default_reload().unwrap_or_default()
        ),
        "agent.targets.reload_timeout" => "30s".into(),
        "metrics.require_token" => Settings::default().metrics.require_token.to_string(),
        "server.max_connections" => limits.max_connections.to_string(),
        "server.max_connections_per_address" => format!(
            "an eighth of `max_connections`, at least 4 ({})",
            limits.max_connections_per_address
        ),
        "server.handshake_timeout" => secs(limits.handshake_timeout),
        "server.header_timeout" => secs(limits.header_timeout),
        "server.body_timeout" => secs(limits.body_timeout),
        "server.idle_timeout" => secs(limits.idle_timeout),
        "server.refusal_interval" => secs(limits.refusal_interval),
        "server.refusals_per_interval" => limits.refusals_per_interval.to_string(),
        "server.lifecycle_lease" => secs(limits.lifecycle_lease),
        "database.url" => "the home's `certherd.db` (SQLite)".into(),
        "database.max_connections" => format!(
            "{} on PostgreSQL, {} on SQLite",
            DatabaseSettings::DEFAULT_POSTGRES_CONNECTIONS,
            DatabaseSettings::DEFAULT_SQLITE_CONNECTIONS
        ),
        "crl.next_update" => CrlPolicy::DEFAULT_NEXT_UPDATE.to_string(),
        _ => return None,
    })
}

/// The key of `row` in `table`, dotted from the top (`agent.targets.dir`).
fn dotted(table: &Table, row: &Row) -> String {
    if table.path.is_empty() {
        row.key.clone()
    } else {
        format!("{}.{}", table.path, row.key)
    }
}

/// `configuration.md`: every table and key of certherd.toml.
fn configuration_page() -> String {
    let root = settings_schema();
    let mut text = String::from(GENERATED);
    text.push_str("# certherd.toml\n\n");
    text.push_str("The settings of a home: `certherd.toml` in the home directory (`--home`, `$CERTHERD_HOME`, else `~/.local/share/certherd`). Every key is optional; a key certherd does not know is an error, so a typo never falls back to a default silently. The file is read when a command starts (the server and the agent read it when they start). Keep it mode 0600 when it holds a database password: `certherd check` warns about a home file others may read.\n\nDurations are written as a number and a unit, summed: `30d`, `12h`, `1y2d` (`s`, `m`, `h`, `d`, `w`, `y` = 365 days).\n\n");
    for table in settings_tables(&root) {
        let _ = writeln!(text, "## {}\n", table.header);
        if !table.about.is_empty() {
            let _ = writeln!(text, "{}\n", md(&table.about));
        }
        text.push_str("| key | takes | default | meaning |\n|---|---|---|---|\n");
        for row in &table.rows {
            let default = default_of(&dotted(&table, row)).unwrap_or_else(|| "?".into());
            let _ = writeln!(
                text,
                "| `{}` | {} | {} | {} |",
                row.key,
                row.kind.replace('|', "\\|"),
                default.replace('|', "\\|"),
                cell(&row.about)
            );
        }
        text.push('\n');
    }
    text
}

// ---------------------------------------------------------------------------------------
// The admin API

/// A schema's type for a reader, schemas of the document linked (`[CertRow](#certrow)`).
fn api_type(s: &Value) -> String {
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or_default();
        return format!("[{name}](#{})", anchor(name));
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(list) = s.get(key).and_then(Value::as_array) {
            let kinds: Vec<String> = list
                .iter()
                .filter(|v| v.get("type").and_then(Value::as_str) != Some("null"))
                .map(api_type)
                .collect();
            return kinds.join(" or ");
        }
    }
    if let Some(values) = s.get("enum").and_then(Value::as_array) {
        let names: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
        return names.join(", ");
    }
    match json_type(s) {
        Some("array") => format!(
            "list of {}",
            s.get("items").map_or_else(|| "values".into(), api_type)
        ),
        Some("object") => match s.get("additionalProperties") {
            Some(v) if v.is_object() => format!("map of text to {}", api_type(v)),
            _ => "object".into(),
        },
        Some("integer") => "integer".into(),
        Some("number") => "number".into(),
        Some("boolean") => "boolean".into(),
        Some("string") => "text".into(),
        Some(t) => t.into(),
        None => "any".into(),
    }
}

/// A property table of an object schema (`required` from the schema).
fn properties_table(out: &mut String, s: &Value) {
    let Some(props) = s.get("properties").and_then(Value::as_object) else {
        return;
    };
    let required: BTreeSet<&str> = s
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    out.push_str("| field | type | required | meaning |\n|---|---|---|---|\n");
    for (name, prop) in props {
        let mut kind = api_type(prop);
        if prop.get("nullable").and_then(Value::as_bool) == Some(true)
            || prop
                .get("type")
                .and_then(Value::as_array)
                .is_some_and(|t| t.iter().any(|t| t == "null"))
        {
            kind.push_str(" or null");
        }
        let _ = writeln!(
            out,
            "| `{name}` | {} | {} | {} |",
            kind.replace('|', "\\|"),
            if required.contains(name.as_str()) {
                "yes"
            } else {
                "no"
            },
            cell(&description(&Value::Null, prop))
        );
    }
    out.push('\n');
}

/// A schema of the document: its description, then its fields or its values.
fn schema_section(out: &mut String, s: &Value) {
    let about = description(&Value::Null, s);
    if !about.is_empty() {
        let _ = writeln!(out, "{}\n", md(&about));
    }
    if s.get("properties").is_some() {
        properties_table(out, s);
        return;
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(list) = s.get(key).and_then(Value::as_array) {
            out.push_str("One of:\n\n");
            for v in list {
                let value = v
                    .get("enum")
                    .and_then(Value::as_array)
                    .filter(|e| e.len() == 1)
                    .map(|e| format!("`{}`", e[0]))
                    .or_else(|| v.get("const").map(|c| format!("`{c}`")));
                let about = description(&Value::Null, v);
                match value {
                    Some(value) => {
                        let _ = writeln!(out, "- {value}: {}", cell(&about));
                    }
                    None => {
                        let _ = writeln!(out, "- {}: {}", api_type(v), cell(&about));
                        if v.get("properties").is_some() {
                            out.push('\n');
                            properties_table(out, v);
                        }
                    }
                }
            }
            out.push('\n');
            return;
        }
    }
    let _ = writeln!(out, "Type: {}\n", api_type(s));
}

/// `admin-api.md`: every endpoint of the OpenAPI document, then every schema.
fn admin_api_page(doc: &Value) -> String {
    let empty = Map::new();
    let mut text = String::from(GENERATED);
    text.push_str("# Admin API\n\n");
    if let Some(d) = doc.pointer("/info/description").and_then(Value::as_str) {
        let _ = writeln!(text, "{}\n", md(d));
    }
    text.push_str("The server serves this document as OpenAPI 3.0 at `GET /v1/openapi.json`; the same document is [openapi.json](openapi.json) beside this page. Bodies are JSON; every refusal is an [ErrorBody](#errorbody).\n\n");
    let paths = doc
        .get("paths")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut statuses: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
    text.push_str("## Endpoints\n\n| method | path | what it does |\n|---|---|---|\n");
    let mut ops = Vec::new();
    for (path, methods) in paths {
        for (method, op) in methods.as_object().unwrap_or(&empty) {
            // The path in a code span: a heading's trailing `{alias}` would otherwise be
            // read as mdBook's heading attributes.
            let heading = format!("{} `{path}`", method.to_uppercase());
            let summary = op
                .get("summary")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let _ = writeln!(
                text,
                "| {} | [`{path}`](#{}) | {} |",
                method.to_uppercase(),
                anchor(&heading),
                cell(summary)
            );
            ops.push((heading, op));
        }
    }
    text.push('\n');
    for (heading, op) in ops {
        let _ = writeln!(text, "### {heading}\n");
        if let Some(s) = op.get("summary").and_then(Value::as_str) {
            let _ = writeln!(text, "{}\n", md(s));
        }
        let params = op
            .get("parameters")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if !params.is_empty() {
            text.push_str("Parameters:\n\n");
            for p in params {
                let name = p.get("name").and_then(Value::as_str).unwrap_or_default();
                let place = p.get("in").and_then(Value::as_str).unwrap_or_default();
                let kind = p.get("schema").map(api_type).unwrap_or_default();
                let about = p
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let _ = writeln!(text, "- `{name}` ({place}, {kind}): {}", cell(about));
            }
            text.push('\n');
        }
        if let Some(body) = op.pointer("/requestBody/content/application~1json/schema") {
            let _ = writeln!(text, "Request body: {}\n", api_type(body));
        }
        let responses = op
            .get("responses")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        if let Some(answer) = responses
            .get("200")
            .and_then(|r| r.pointer("/content/application~1json/schema"))
        {
            let _ = writeln!(text, "Answer (200): {}\n", api_type(answer));
        }
        let mut refused = Vec::new();
        for (status, r) in responses {
            if status == "200" {
                continue;
            }
            let d = r
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let (what, codes) = d.rsplit_once(" (code ").unwrap_or((d, ""));
            let entry = statuses
                .entry(status.clone())
                .or_insert_with(|| (what.to_owned(), BTreeSet::new()));
            entry.1.extend(
                codes
                    .trim_end_matches(')')
                    .split(", ")
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned),
            );
            refused.push(format!("[{status}](#refusals)"));
        }
        if !refused.is_empty() {
            let _ = writeln!(text, "Refusals: {}\n", refused.join(", "));
        }
    }
    text.push_str("## Refusals\n\nEvery refusal is an [ErrorBody](#errorbody) with a stable `code`.\n\n| status | when | codes |\n|---|---|---|\n");
    for (status, (what, codes)) in &statuses {
        let codes: Vec<String> = codes.iter().map(|c| format!("`{c}`")).collect();
        let _ = writeln!(text, "| {status} | {} | {} |", cell(what), codes.join(", "));
    }
    text.push_str("\n## Schemas\n\n");
    if let Some(schemas) = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
    {
        for (name, s) in schemas {
            let _ = writeln!(text, "### {name}\n");
            schema_section(&mut text, s);
        }
    }
    text
}

// ---------------------------------------------------------------------------------------
// Webhooks

/// `webhooks.md`: the body a webhook receives, and how it is delivered.
fn webhooks_page() -> String {
    use certherd_protocol::webhook::{WebhookEvent, WebhookNotification};
    let schema = Value::from(
        schemars::generate::SchemaSettings::openapi3()
            .into_generator()
            .into_root_schema_for::<WebhookNotification>(),
    );
    let mut text = String::from(GENERATED);
    text.push_str("# Webhook payloads\n\n");
    text.push_str("Each `[[webhooks]]` table of certherd.toml (see [certherd.toml](configuration.md#webhooks)) names a URL that receives a `POST` with `Content-Type: application/json` for every alarm raised or cleared. A notification is queued in the database with the change that caused it, so a server that stops does not lose it; delivery is retried `retries` times, waiting `backoff` before the first retry and twice as long before each next one, ");
    let _ = write!(
        text,
        "at most {} between two attempts. `certherd status` shows how many wait and the last delivery error. An `https://` URL is verified against the home's trusted roots.\n\n",
        certherd_monitor::MAX_RETRY_DELAY
    );
    text.push_str("## The body\n\n");
    schema_section(&mut text, &schema);
    let example = WebhookNotification {
        cleared_at: None,
        detail: None,
        event: WebhookEvent::Raised,
        kind: "expiring-14d".into(),
        node: "mgmt.example.com".into(),
        raised_at: "2026-11-10T08:00:00Z".into(),
        subject: "machine-ssl/machine".into(),
    };
    let _ = writeln!(
        text,
        "For example:\n\n```json\n{}\n```\n",
        serde_json::to_string_pretty(&example).unwrap_or_default()
    );
    if let Some(defs) = schema
        .pointer("/components/schemas")
        .or_else(|| schema.get("$defs"))
        .and_then(Value::as_object)
    {
        for (name, s) in defs {
            let _ = writeln!(text, "### {name}\n");
            schema_section(&mut text, s);
        }
    }
    text
}

// ---------------------------------------------------------------------------------------
// Metrics

/// One metric family of the exposition.
struct Family {
    /// Its name.
    name: String,
    /// `gauge`, `counter`...
    kind: String,
    /// Its help text.
    help: String,
    /// The labels of its samples.
    labels: Vec<String>,
}

/// The families of a Prometheus text exposition, in order.
fn families(text: &str) -> Vec<Family> {
    let mut out: Vec<Family> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            out.push(Family {
                name: name.into(),
                kind: String::new(),
                help: help.into(),
                labels: Vec::new(),
            });
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
            if let Some(f) = out.iter_mut().find(|f| f.name == name) {
                f.kind = kind.into();
            }
        } else if let Some((name, labels)) = line.split_once('{') {
            if let Some(f) = out.iter_mut().find(|f| f.name == name) {
                if f.labels.is_empty() {
                    f.labels = labels
                        .split(',')
                        .filter_map(|kv| kv.split_once('=').map(|(k, _)| k.to_owned()))
                        .collect();
                }
            }
        }
    }
    out
}

/// The exposition of one certificate and one open alarm, as the server renders it.
fn sample_metrics() -> String {
    use certherd_core::{Alarm, AlarmKind, EntryKind, EntryMeta, Source};
    let now = certherd_core::OffsetDateTime::UNIX_EPOCH;
    let entries: Vec<EntryMeta> = "machine-ssl/machine"
        .parse()
        .ok()
        .map(|entry| EntryMeta {
            entry,
            kind: EntryKind::KeyPair,
            profile: Some("machine-ssl".into()),
            source: Source::Issued,
            subject: "CN=x".into(),
            issuer: "CN=ca".into(),
            serial: "01".into(),
            not_before: now,
            not_after: now,
            sha256: String::new(),
            issuer_sha256: None,
            stored_at: now,
        })
        .into_iter()
        .collect();
    let alarm = Alarm {
        kind: AlarmKind::Expired,
        subject: "machine-ssl/machine".into(),
        raised_at: now,
        cleared_at: None,
    };
    certherd_core::render_metrics(
        entries.iter().map(|e| ("node", e)),
        &[alarm],
        certherd_core::Counters::default(),
        now,
    )
}

/// `metrics.md`: every metric the server's `/metrics` serves.
fn metrics_page() -> String {
    let mut text = String::from(GENERATED);
    text.push_str("# Prometheus metrics\n\n");
    text.push_str("`certherd server` serves `GET /metrics` in the Prometheus text format (0.0.4) on its listener, over HTTPS. By default anyone who can reach the listener may read it, and it names every host, store and alias with its expiry; set `require_token = true` in [`[metrics]`](configuration.md#metrics) to ask for an admin bearer token (`certherd admin credential NAME`; in Prometheus, `authorization: { credentials: TOKEN }`). Superseded entries (the backup store) are left out. CI checks the text with `promtool check metrics`.\n\n");
    text.push_str("| metric | type | labels | meaning |\n|---|---|---|---|\n");
    for f in families(&sample_metrics()) {
        let labels: Vec<String> = f.labels.iter().map(|l| format!("`{l}`")).collect();
        let _ = writeln!(
            text,
            "| `{}` | {} | {} | {} |",
            f.name,
            f.kind,
            labels.join(", "),
            cell(&f.help)
        );
    }
    text.push_str("\nThe `node` label of a host's certificate is the host; of the server's own certificates, the server's hostname. `kind` of `certherd_alarms_open` is the alarm's kind (`expiring-30d`, `expired`, `host-silent`...); a kind with no open alarm has no sample. The counters count since the server started.\n");
    text
}

// ---------------------------------------------------------------------------------------
// The index

/// `index.md`: what the reference holds.
fn index_page() -> String {
    let mut text = String::from(GENERATED);
    text.push_str("# Reference\n\nThese pages are generated from the code by `certherd reference --out docs/src/reference`; CI regenerates them and fails when they differ from the ones checked in, so they say what the binary does.\n\n");
    text.push_str(
        "- [Commands](commands/certherd.md): every command and flag, with the global options.\n",
    );
    text.push_str(
        "- [certherd.toml](configuration.md): every key of the settings file and its default.\n",
    );
    text.push_str("- [Admin API](admin-api.md): every endpoint of the server's admin API, from its OpenAPI document ([openapi.json](openapi.json)).\n");
    text.push_str("- [Webhook payloads](webhooks.md): the JSON an alarm webhook receives.\n");
    text.push_str("- [Prometheus metrics](metrics.md): what `/metrics` serves.\n");
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn page(name: &str) -> String {
        pages()
            .into_iter()
            .find(|p| p.path == name)
            .unwrap_or_else(|| panic!("no {name}"))
            .text
    }

    /// Every visible command has its section on its noun's page; hidden ones have none.
    #[test]
    fn every_command_has_a_section() {
        fn walk(cmd: &clap::Command, out: &mut Vec<String>) {
            for sub in visible(cmd) {
                out.push(full_name(sub));
                walk(sub, out);
            }
        }
        let mut names = Vec::new();
        walk(&command_tree(), &mut names);
        let all: String = pages()
            .iter()
            .filter(|p| p.path.starts_with("commands/"))
            .map(|p| p.text.clone())
            .collect();
        for name in &names {
            let depth = name.split(' ').count() - 1;
            let heading = format!("\n{} {name}\n", "#".repeat(depth));
            assert!(
                all.contains(&heading) || all.contains(&heading[1..]),
                "no section for {name}"
            );
        }
        assert!(names.iter().any(|n| n == "certherd cert issue"));
        assert!(!all.contains("# certherd man\n") && !all.contains("# certherd reference\n"));
        let cert = page("commands/cert.md");
        assert!(cert.contains("`--profile <PROFILE>`") || cert.contains("`--profile <"));
        // Global options are said once, on certherd.md.
        assert!(!cert.contains("`--home <DIR>`"));
        assert!(page("commands/certherd.md").contains("`--home <DIR>`"));
    }

    /// Every key of every table has a default in the reference.
    #[test]
    fn every_settings_key_has_a_default() {
        let root = settings_schema();
        let tables = settings_tables(&root);
        assert!(tables.iter().any(|t| t.header == "[[agent.targets]]"));
        assert!(tables.iter().any(|t| t.header == "[profiles.NAME]"));
        let mut keys = 0;
        for t in &tables {
            for row in &t.rows {
                let key = dotted(t, row);
                assert!(default_of(&key).is_some(), "no default for {key}");
                keys += 1;
            }
        }
        assert!(keys > 30, "{keys}");
        assert!(!configuration_page().contains("| ? |"));
    }

    /// The names serde's "unknown field" error says a table takes.
    fn accepted(toml_text: &str) -> BTreeSet<String> {
        let e = toml::from_str::<certherd_core::Settings>(toml_text)
            .unwrap_err()
            .to_string();
        let (_, expected) = e.split_once("expected").unwrap_or_else(|| panic!("{e}"));
        expected
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    }

    /// The tables and keys of the reference are exactly those the parser accepts: each
    /// table is probed with a key it does not know, and serde's refusal names the keys it
    /// takes.
    #[test]
    fn documented_keys_are_the_keys_the_parser_accepts() {
        let root = settings_schema();
        for t in settings_tables(&root) {
            let mut keys: BTreeSet<String> = t.rows.iter().map(|r| r.key.clone()).collect();
            let header = if t.path.is_empty() {
                String::new()
            } else {
                format!("{}\n", t.header.replace("NAME", "probe"))
            };
            // Tables nested in this one are keys of it too.
            let prefix = if t.path.is_empty() {
                String::new()
            } else {
                format!("{}.", t.path)
            };
            for other in settings_tables(&root) {
                if let Some(rest) = other.path.strip_prefix(&prefix) {
                    if !rest.is_empty() && !rest.contains('.') {
                        keys.insert(rest.to_owned());
                    }
                    if let Some(map) = rest.strip_suffix(".NAME") {
                        if !map.contains('.') {
                            keys.insert(map.to_owned());
                        }
                    }
                }
            }
            let text = format!("{header}zz_not_a_key = 1\n");
            assert_eq!(accepted(&text), keys, "{}", t.header);
        }
    }

    /// The metrics page names every family the server renders, with its type.
    #[test]
    fn metrics_page_names_every_family() {
        let text = metrics_page();
        let fams = families(&sample_metrics());
        assert!(fams.len() >= 5);
        for f in fams {
            assert!(!f.kind.is_empty() && !f.help.is_empty(), "{}", f.name);
            assert!(
                text.contains(&format!("`{}` | {}", f.name, f.kind)),
                "{}",
                f.name
            );
        }
        assert!(text.contains("`node`, `store`, `alias`, `profile`"));
    }

    /// The admin API page has a section per endpoint, and a schema section for every link.
    #[test]
    fn admin_api_links_resolve() {
        let text = page("admin-api.md");
        let doc = certherd_protocol::admin::openapi("test");
        let n: usize = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|m| m.as_object().unwrap().len())
            .sum();
        let sections = ["GET", "POST", "DELETE", "PUT", "PATCH"]
            .iter()
            .map(|m| text.matches(&format!("\n### {m} `/")).count())
            .sum::<usize>();
        assert_eq!(sections, n);
        let headings: BTreeSet<String> = text
            .lines()
            .filter_map(|l| {
                l.strip_prefix('#')
                    .map(|h| anchor(h.trim_start_matches('#').trim()))
            })
            .collect();
        for link in text.split("](#").skip(1) {
            let target = link.split(')').next().unwrap();
            assert!(headings.contains(target), "no heading for #{target}");
        }
    }

    /// The webhook page shows the body's fields and an example that parses back.
    #[test]
    fn webhook_page_shows_every_field() {
        let text = webhooks_page();
        for field in [
            "cleared_at",
            "detail",
            "event",
            "kind",
            "node",
            "raised_at",
            "subject",
        ] {
            assert!(text.contains(&format!("| `{field}` |")), "{field}");
        }
        let json = text
            .split("```json\n")
            .nth(1)
            .unwrap()
            .split("```")
            .next()
            .unwrap();
        let _: certherd_protocol::webhook::WebhookNotification =
            serde_json::from_str(json).unwrap();
    }

    #[test]
    fn markdown_is_escaped_outside_code() {
        assert_eq!(md("a <b> *c* `<d>` [`E`]"), "a &lt;b&gt; \\*c\\* `<d>` `E`");
        assert_eq!(md("# x"), "\\# x");
        assert_eq!(md("one ` two"), "one \\` two");
        assert_eq!(cell("a | b\nc"), "a \\| b c");
        assert_eq!(anchor("certherd cert issue"), "certherd-cert-issue");
        assert_eq!(anchor("[[agent.targets]]"), "agenttargets");
    }

    /// `reference --out` writes every page and removes one no longer generated.
    #[test]
    fn writes_the_pages_and_removes_stale_ones() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("reference");
        std::fs::create_dir_all(out.join("commands")).unwrap();
        std::fs::write(out.join("commands/gone.md"), "old").unwrap();
        std::fs::write(out.join("keep.txt"), "not ours").unwrap();
        let written = write_pages(&out).unwrap();
        assert_eq!(written.len(), pages().len());
        assert!(!out.join("commands/gone.md").exists());
        assert!(out.join("keep.txt").exists());
        assert!(out.join("commands/cert.md").is_file());
    }
}
