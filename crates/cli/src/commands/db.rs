//! `db copy`: the home's SQLite inventory into an empty PostgreSQL database.

use crate::commands::Output;
use crate::Failure;
use certherd_store::DatabaseUrl;
use certherd_store::Home;
use clap::Subcommand;
use std::process::ExitCode;

/// `db`.
pub fn run(home: &Home, c: DbCmd) -> Result<ExitCode, Failure> {
    let DbCmd::Copy { to, output } = c;
    let target = DatabaseUrl::parse(&to).map_err(|e| Failure::usage(e.to_string()))?;
    // The source is the home's certherd.db: a home already on PostgreSQL keeps its live
    // inventory there, and its certherd.db (if any) is stale, so copying it would be wrong.
    if let Some(live) = home.database() {
        return Err(Failure {
            message: format!(
                "this home's store is already PostgreSQL ({live}); db copy copies a home's SQLite file ({}) into PostgreSQL",
                home.db_path().display()
            ),
            hint: Some(
                "to copy one PostgreSQL database into another use pg_dump | pg_restore; to copy the SQLite file, run without --database, CERTHERD_DATABASE_URL and [database] url".into(),
            ),
            code: Some(2),
            note: None,
        });
    }
    let mut source = home
        .sqlite()
        .open_sqlite()
        .map_err(certherd_authority::Error::from)?;
    if let Some(h) = crate::fault_hook() {
        source.set_fault_hook(Box::new(move |p| h(p)));
    }
    let copied = source
        .copy_to_postgres(target.expose())
        .map_err(certherd_authority::Error::from)?;
    match output {
        Output::Json => crate::render::json(&CopiedJson {
            source: home.db_path().display().to_string(),
            target: target.to_string(),
            tables: copied
                .iter()
                .map(|c| TableJson {
                    table: c.table,
                    rows: c.rows,
                })
                .collect(),
        }),
        Output::Table => {
            crate::render::table(
                &["TABLE", "ROWS"],
                &copied
                    .iter()
                    .map(|c| vec![c.table.to_owned(), c.rows.to_string()])
                    .collect::<Vec<_>>(),
            );
            outln!(
                "copied {} into {target}: every table's row count checked; next: certherd --home {} server --database URL (or [database] url in certherd.toml)",
                home.db_path().display(),
                home.dir().display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `db` subcommands.
#[derive(Debug, Subcommand)]
pub enum DbCmd {
    /// Copy the home's SQLite inventory (every table: entries with their sealed keys,
    /// the audit log, fleet state, alarms, the outbox, watches, key providers, CRLs) into
    /// an empty PostgreSQL database, in one transaction, and check each table's row count
    /// before committing. Then run `certherd --home HOME server --database URL` (or set
    /// `[database] url`). A target that holds any table is refused, and so is a home whose
    /// store is already PostgreSQL (--database, $CERTHERD_DATABASE_URL or `[database] url`).
    Copy {
        /// The empty PostgreSQL database (postgres://USER[:PASSWORD]@HOST[:PORT]/DB).
        #[arg(long, value_name = "URL")]
        to: String,
        /// Output format (JSON: `target`, `tables` [{`table`, `rows`}]).
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
}

/// `db copy --output json`: where from, where to, and the rows of each table.
#[derive(serde::Serialize)]
struct CopiedJson {
    source: String,
    /// The target as it displays: without its password.
    target: String,
    tables: Vec<TableJson>,
}

/// One table copied.
#[derive(serde::Serialize)]
struct TableJson {
    table: &'static str,
    rows: i64,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The typed report prints as the `json!` object it replaced did.
    #[test]
    fn copied_json_is_the_object_it_replaced() {
        let typed = CopiedJson {
            source: "/home/certherd.db".into(),
            target: "postgres://certherd@db/certherd".into(),
            tables: vec![
                TableJson {
                    table: "entries",
                    rows: 12,
                },
                TableJson {
                    table: "audit",
                    rows: 0,
                },
            ],
        };
        let by_hand = serde_json::json!({
            "source": "/home/certherd.db",
            "target": "postgres://certherd@db/certherd",
            "tables": [
                {"table": "entries", "rows": 12},
                {"table": "audit", "rows": 0},
            ],
        });
        assert_eq!(serde_json::to_value(&typed).unwrap(), by_hand);
    }
}
