//! `db copy`: the home's SQLite inventory into an empty PostgreSQL database.

use std::process::ExitCode;

use certherd_store::{DatabaseUrl, Home};
use serde_json::json;

use crate::args::{DbCmd, Output};
use crate::Failure;

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
        });
    }
    let mut source = home
        .sqlite()
        .open_sqlite()
        .map_err(certherd_ca::Error::from)?;
    if let Some(h) = crate::fault_hook() {
        source.set_fault_hook(Box::new(move |p| h(p)));
    }
    let copied = source
        .copy_to_postgres(target.expose())
        .map_err(certherd_ca::Error::from)?;
    match output {
        Output::Json => crate::render::json(&json!({
            "source": home.db_path().display().to_string(),
            "target": target.to_string(),
            "tables": copied
                .iter()
                .map(|c| json!({ "table": c.table, "rows": c.rows }))
                .collect::<Vec<_>>(),
        })),
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
