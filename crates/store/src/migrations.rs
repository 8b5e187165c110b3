//! The schema's versions, as SQL files applied once each, in order, in one transaction per
//! open, and recorded in `schema_migrations (version, name, applied_at)`.

/// One schema version: the SQL that brings the previous version to it.
#[derive(Clone, Copy, Debug)]
pub struct Migration {
    /// Its number: 1, 2, ... with no gap.
    pub version: i64,
    /// Its file name without the number and `.sql`.
    pub name: &'static str,
    /// The statements.
    pub sql: &'static str,
}

/// Both backends' migrations from one list of (version, name): each backend's file is
/// `migrations/BACKEND/NNNN_NAME.sql`, so a migration cannot be listed for one backend and
/// forgotten for the other.
macro_rules! migrations {
    ($($file:literal => $version:literal, $name:literal;)+) => {
        /// SQLite's migrations, oldest first.
        pub const SQLITE: &[Migration] = &[$(Migration {
            version: $version,
            name: $name,
            sql: include_str!(concat!("../migrations/sqlite/", $file, ".sql")),
        }),+];

        /// PostgreSQL's migrations, oldest first; the same versions and names as SQLite's.
        pub const POSTGRES: &[Migration] = &[$(Migration {
            version: $version,
            name: $name,
            sql: include_str!(concat!("../migrations/postgres/", $file, ".sql")),
        }),+];
    };
}

migrations! {
    "0001_initial" => 1, "initial";
    "0002_issued_serials_unique" => 2, "issued_serials_unique";
    "0003_leases" => 3, "leases";
    "0004_revocations" => 4, "revocations";
    "0005_admin_credential_roles" => 5, "admin_credential_roles";
    "0006_admin_client_certificates" => 6, "admin_client_certificates";
    "0007_hosts_lower_name" => 7, "hosts_lower_name";
}

/// The newest schema version this binary knows.
pub fn latest() -> i64 {
    SQLITE.last().map_or(0, |m| m.version)
}

/// The table recording applied migrations, in SQL both backends accept.
pub(crate) const TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)";

/// The unique index of migration 2: an issued certificate's (issuer, serial) is stored once.
pub(crate) const ISSUED_SERIAL_INDEX: &str = "entries_issued_serial";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_backends_have_the_same_versions_numbered_without_gaps() {
        assert_eq!(SQLITE.len(), POSTGRES.len());
        for (i, (s, p)) in SQLITE.iter().zip(POSTGRES).enumerate() {
            assert_eq!(s.version, i64::try_from(i).unwrap() + 1);
            assert_eq!((s.version, s.name), (p.version, p.name));
        }
    }
}
