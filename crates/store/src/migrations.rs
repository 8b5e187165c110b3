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

/// SQLite's migrations, oldest first.
pub const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../migrations/sqlite/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "issued_serials_unique",
        sql: include_str!("../migrations/sqlite/0002_issued_serials_unique.sql"),
    },
    Migration {
        version: 3,
        name: "leases",
        sql: include_str!("../migrations/sqlite/0003_leases.sql"),
    },
    Migration {
        version: 4,
        name: "revocations",
        sql: include_str!("../migrations/sqlite/0004_revocations.sql"),
    },
    Migration {
        version: 5,
        name: "admin_credential_roles",
        sql: include_str!("../migrations/sqlite/0005_admin_credential_roles.sql"),
    },
];

/// PostgreSQL's migrations, oldest first; the same versions and names as SQLite's.
pub const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../migrations/postgres/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "issued_serials_unique",
        sql: include_str!("../migrations/postgres/0002_issued_serials_unique.sql"),
    },
    Migration {
        version: 3,
        name: "leases",
        sql: include_str!("../migrations/postgres/0003_leases.sql"),
    },
    Migration {
        version: 4,
        name: "revocations",
        sql: include_str!("../migrations/postgres/0004_revocations.sql"),
    },
    Migration {
        version: 5,
        name: "admin_credential_roles",
        sql: include_str!("../migrations/postgres/0005_admin_credential_roles.sql"),
    },
];

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
