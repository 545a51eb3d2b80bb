//! Schema migrations: numbered SQL files under `migrations/`, applied in
//! order at open and tracked with `PRAGMA user_version`.

use rusqlite::{Connection, TransactionBehavior};

/// One schema step.
pub struct Migration {
    pub version: i64,
    /// The file's name: the numbering test holds it to the version.
    #[cfg_attr(not(test), allow(dead_code))]
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration this binary knows, in order. Version N is the N-th file.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_registry",
        sql: include_str!("../../migrations/0001_registry.sql"),
    },
    Migration {
        version: 2,
        name: "0002_scorer_scales",
        sql: include_str!("../../migrations/0002_scorer_scales.sql"),
    },
    Migration {
        version: 3,
        name: "0003_exports",
        sql: include_str!("../../migrations/0003_exports.sql"),
    },
    Migration {
        version: 4,
        name: "0004_components_versions",
        sql: include_str!("../../migrations/0004_components_versions.sql"),
    },
    Migration {
        version: 5,
        name: "0005_signal_families",
        sql: include_str!("../../migrations/0005_signal_families.sql"),
    },
    Migration {
        version: 6,
        name: "0006_lean_scores",
        sql: include_str!("../../migrations/0006_lean_scores.sql"),
    },
    Migration {
        version: 7,
        name: "0007_points_in_time",
        sql: include_str!("../../migrations/0007_points_in_time.sql"),
    },
    Migration {
        version: 8,
        name: "0008_export_publication",
        sql: include_str!("../../migrations/0008_export_publication.sql"),
    },
    Migration {
        version: 9,
        name: "0009_families_key_first",
        sql: include_str!("../../migrations/0009_families_key_first.sql"),
    },
    Migration {
        version: 10,
        name: "0010_live_row_counts",
        sql: include_str!("../../migrations/0010_live_row_counts.sql"),
    },
    Migration {
        version: 11,
        name: "0011_raw_key_prefixes",
        sql: include_str!("../../migrations/0011_raw_key_prefixes.sql"),
    },
    Migration {
        version: 12,
        name: "0012_live_digests",
        sql: include_str!("../../migrations/0012_live_digests.sql"),
    },
];

/// The schema version a registry has once this binary has opened it.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

pub fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |row| row.get(0))
}

/// Bring the schema up to `target`. Runs in one write transaction and
/// re-reads the version inside it, so two processes opening a new registry
/// at the same moment apply each migration once.
pub fn migrate_to(conn: &mut Connection, target: i64) -> rusqlite::Result<()> {
    if user_version(conn)? >= target {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let current = user_version(&tx)?;
    for migration in MIGRATIONS
        .iter()
        .filter(|m| m.version > current && m.version <= target)
    {
        tx.execute_batch(migration.sql)?;
        tx.pragma_update(None, "user_version", migration.version)?;
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order() {
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version, index as i64 + 1);
            assert!(migration
                .name
                .starts_with(&format!("{:04}_", migration.version)));
        }
    }

    #[test]
    fn migrate_step_by_step_equals_all_at_once() {
        let mut stepwise = Connection::open_in_memory().unwrap();
        for version in 1..=SCHEMA_VERSION {
            migrate_to(&mut stepwise, version).unwrap();
            assert_eq!(user_version(&stepwise).unwrap(), version);
        }
        let mut direct = Connection::open_in_memory().unwrap();
        migrate_to(&mut direct, SCHEMA_VERSION).unwrap();
        let schema = |conn: &Connection| -> Vec<String> {
            let mut stmt = conn
                .prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
                .unwrap();
            stmt.query_map([], |row| row.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        assert_eq!(schema(&stepwise), schema(&direct));
    }
}
