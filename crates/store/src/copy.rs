//! `certherd db copy`: a SQLite home's every row into an empty PostgreSQL database, in one
//! transaction, its row counts checked before the commit.

use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};

use crate::pg::{self, redact_url};
use crate::{Error, SqliteStore};

/// Every table of the schema but `schema_migrations` (which the target's own migrations
/// fill), parents before the children whose foreign keys name them.
pub const TABLES: &[&str] = &[
    "meta",
    "stores",
    "entries",
    "secrets",
    "crls",
    "audit",
    "key_providers",
    "key_provider_servers",
    "alarms",
    "hosts",
    "join_tokens",
    "host_verification",
    "host_orders",
    "host_roots",
    "host_deploy",
    "admin_credentials",
    "outbox",
    "watches",
    "leases",
    "revocations",
];

/// Tables whose `id` is generated: their sequence continues after the copied ids.
const IDENTITY_TABLES: &[&str] = &["audit", "alarms", "outbox"];

/// The rows of one table, in the home and (after the copy) in the target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopiedTable {
    /// The table.
    pub table: &'static str,
    /// Rows copied (equal in both, or the copy was not committed).
    pub rows: i64,
}

/// One value of a row on its way, typed as the target column is.
enum Cell {
    Int(Option<i64>),
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
}

impl Cell {
    fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Cell::Int(v) => v,
            Cell::Text(v) => v,
            Cell::Bytes(v) => v,
        }
    }
}

/// The target's columns of `table` with their types, in order.
fn target_columns(
    tx: &mut postgres::Transaction<'_>,
    table: &str,
) -> Result<Vec<(String, Type)>, Error> {
    const C: &str = "reading the target's columns";
    let rows = tx
        .query(
            "SELECT column_name::TEXT, data_type::TEXT FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
            &[&table],
        )
        .map_err(Error::pg(C))?;
    rows.iter()
        .map(|r| {
            let name: String = r.try_get(0).map_err(Error::pg(C))?;
            let data_type: String = r.try_get(1).map_err(Error::pg(C))?;
            let ty = match data_type.as_str() {
                "bigint" => Type::INT8,
                "text" => Type::TEXT,
                "bytea" => Type::BYTEA,
                other => {
                    return Err(Error::Corrupt(format!(
                        "target column {table}.{name} has type {other}, which no certherd migration makes"
                    )))
                }
            };
            Ok((name, ty))
        })
        .collect()
}

impl SqliteStore {
    /// Copies every row of this home into the empty PostgreSQL database at `url` in one
    /// transaction: the schema is created by the PostgreSQL migrations, each table of
    /// [`TABLES`] is copied as stored (sealed keys stay sealed, ids are kept), the row
    /// counts are compared, and only then is it committed. A target that holds any table
    /// is refused before anything is written. The fault hook is called at
    /// `copy.before-commit`.
    pub fn copy_to_postgres(&self, url: &str) -> Result<Vec<CopiedTable>, Error> {
        let mut client = pg::connect(url, "certherd db copy")?;
        let mut tx = client
            .transaction()
            .map_err(Error::pg("starting the copy"))?;
        let existing = pg::tables(&mut tx)?;
        if !existing.is_empty() {
            return Err(Error::TargetNotEmpty {
                url: redact_url(url),
                tables: existing.join(", "),
            });
        }
        pg::migrate(&mut tx, url)?;
        // One read transaction: the copy is of one moment of the home.
        let read = self
            .conn
            .unchecked_transaction()
            .map_err(Error::sql("starting to read the home"))?;
        let mut copied = Vec::new();
        for &table in TABLES {
            let columns = target_columns(&mut tx, table)?;
            let names = columns
                .iter()
                .map(|(n, _)| format!("\"{n}\""))
                .collect::<Vec<_>>()
                .join(", ");
            let types: Vec<Type> = columns.iter().map(|(_, t)| t.clone()).collect();
            let sink = tx
                .copy_in(&format!(
                    "COPY \"{table}\" ({names}) FROM STDIN (FORMAT binary)"
                ))
                .map_err(Error::pg("copying rows"))?;
            let mut writer = BinaryCopyInWriter::new(sink, &types);
            let mut stmt = read
                .prepare(&format!("SELECT {names} FROM \"{table}\""))
                .map_err(Error::sql("reading the home"))?;
            let mut rows = stmt.query([]).map_err(Error::sql("reading the home"))?;
            let mut n: i64 = 0;
            while let Some(row) = rows.next().map_err(Error::sql("reading the home"))? {
                let mut cells = Vec::with_capacity(types.len());
                for (i, ty) in types.iter().enumerate() {
                    let sql = Error::sql("reading the home");
                    cells.push(if *ty == Type::INT8 {
                        Cell::Int(row.get(i).map_err(sql)?)
                    } else if *ty == Type::BYTEA {
                        Cell::Bytes(row.get(i).map_err(sql)?)
                    } else {
                        Cell::Text(row.get(i).map_err(sql)?)
                    });
                }
                let values: Vec<&(dyn ToSql + Sync)> = cells.iter().map(Cell::as_sql).collect();
                writer.write(&values).map_err(Error::pg("copying rows"))?;
                n += 1;
            }
            writer.finish().map_err(Error::pg("copying rows"))?;
            copied.push(CopiedTable { table, rows: n });
        }
        for table in IDENTITY_TABLES {
            tx.execute(
                &format!("SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT MAX(id) FROM \"{table}\"), 0) + 1, false)"),
                &[],
            )
            .map_err(Error::pg("continuing the id sequences"))?;
        }
        // The check: every table holds in the target what it holds in the home.
        for c in &copied {
            let source_rows: i64 = read
                .query_row(&format!("SELECT COUNT(*) FROM \"{}\"", c.table), [], |r| {
                    r.get(0)
                })
                .map_err(Error::sql("counting the home's rows"))?;
            let target_rows: i64 = tx
                .query_one(&format!("SELECT COUNT(*) FROM \"{}\"", c.table), &[])
                .and_then(|r| r.try_get(0))
                .map_err(Error::pg("counting the target's rows"))?;
            if source_rows != target_rows || source_rows != c.rows {
                return Err(Error::CopyMismatch {
                    table: c.table,
                    source_rows,
                    target_rows,
                });
            }
        }
        drop(read);
        if let Some(hook) = &self.fault {
            hook("copy.before-commit");
        }
        tx.commit().map_err(Error::pg("committing the copy"))?;
        Ok(copied)
    }
}
