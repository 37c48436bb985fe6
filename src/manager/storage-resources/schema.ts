// The resource store's tables, created in Berth's database file beside the XenAPI classes' ones
// (prefix `_resource_`: a leading `_` marks Berth's own tables, which pool replicas and XenAPI
// class tables leave out; no XenAPI class is named so) and versioned on their own.
import type { ResourceSql } from './sql.js';

/** Bump with a migration step below when a change needs more than CREATE … IF NOT EXISTS. */
export const RESOURCE_SCHEMA_VERSION = 1;

const TABLES = [
  'CREATE TABLE IF NOT EXISTS _resource_meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL)',
  // A resource class as the plugin declared it (ResourceClassInfo as JSON), by `plugin.Class`.
  'CREATE TABLE IF NOT EXISTS _resource_class (name TEXT PRIMARY KEY NOT NULL, info TEXT NOT NULL)',
  // Identity (class, storage_id, scope) as IML's StorageResourceRecord; scope '' = GlobalId.
  `CREATE TABLE IF NOT EXISTS _resource_record (id INTEGER PRIMARY KEY AUTOINCREMENT,
     class TEXT NOT NULL, storage_id TEXT NOT NULL, scope TEXT NOT NULL, label TEXT NOT NULL,
     alias TEXT, created_at REAL NOT NULL, UNIQUE (class, storage_id, scope))`,
  'CREATE INDEX IF NOT EXISTS _resource_record_scope ON _resource_record (scope)',
  // The record a session root (its handle 1) is stored as.
  'CREATE TABLE IF NOT EXISTS _resource_root (root TEXT PRIMARY KEY NOT NULL, record_id INTEGER NOT NULL)',
  'CREATE INDEX IF NOT EXISTS _resource_root_record ON _resource_root (record_id)',
  `CREATE TABLE IF NOT EXISTS _resource_reported_by (record_id INTEGER NOT NULL, root TEXT NOT NULL,
     PRIMARY KEY (record_id, root))`,
  'CREATE INDEX IF NOT EXISTS _resource_reported_by_root ON _resource_reported_by (root)',
  // Attribute values as JSON; a reference also names its target in ref_id (for the cascade).
  `CREATE TABLE IF NOT EXISTS _resource_attribute (record_id INTEGER NOT NULL, name TEXT NOT NULL,
     value TEXT NOT NULL, ref_id INTEGER, PRIMARY KEY (record_id, name))`,
  'CREATE INDEX IF NOT EXISTS _resource_attribute_ref ON _resource_attribute (ref_id)',
  `CREATE TABLE IF NOT EXISTS _resource_parent (child_id INTEGER NOT NULL, parent_id INTEGER NOT NULL,
     PRIMARY KEY (child_id, parent_id))`,
  'CREATE INDEX IF NOT EXISTS _resource_parent_parent ON _resource_parent (parent_id)',
  // Relation keys: role 'provider' or 'subscriber', key `<to class>_<attributes>`, value tuple JSON.
  `CREATE TABLE IF NOT EXISTS _resource_relation_key (role TEXT NOT NULL, key TEXT NOT NULL,
     value TEXT NOT NULL, record_id INTEGER NOT NULL, PRIMARY KEY (role, key, value, record_id))`,
  'CREATE INDEX IF NOT EXISTS _resource_relation_key_record ON _resource_relation_key (record_id)',
  // Alerts: active 1 while raised, 0 once lowered (kept as history). kind 'condition' | 'offline'.
  `CREATE TABLE IF NOT EXISTS _resource_alert (id INTEGER PRIMARY KEY AUTOINCREMENT,
     record_id INTEGER, root TEXT NOT NULL, kind TEXT NOT NULL, alert_class TEXT NOT NULL,
     attribute TEXT, severity INTEGER NOT NULL, message TEXT NOT NULL, active INTEGER NOT NULL,
     raised_at REAL NOT NULL, lowered_at REAL)`,
  'CREATE INDEX IF NOT EXISTS _resource_alert_record ON _resource_alert (record_id, active)',
  'CREATE INDEX IF NOT EXISTS _resource_alert_root ON _resource_alert (root, kind, active)',
  `CREATE TABLE IF NOT EXISTS _resource_alert_propagated (alert_id INTEGER NOT NULL,
     record_id INTEGER NOT NULL, PRIMARY KEY (alert_id, record_id))`,
  'CREATE INDEX IF NOT EXISTS _resource_alert_propagated_record ON _resource_alert_propagated (record_id)',
  `CREATE TABLE IF NOT EXISTS _resource_statistic_latest (record_id INTEGER NOT NULL, name TEXT NOT NULL,
     ts REAL NOT NULL, value TEXT NOT NULL, PRIMARY KEY (record_id, name))`,
  `CREATE TABLE IF NOT EXISTS _resource_statistic_sample (record_id INTEGER NOT NULL, name TEXT NOT NULL,
     ts REAL NOT NULL, value TEXT NOT NULL)`,
  'CREATE INDEX IF NOT EXISTS _resource_statistic_sample_key ON _resource_statistic_sample (record_id, name, ts)',
];

/** Creates the tables (one transaction) and refuses a file written by a newer store. */
export function migrateResourceSchema(sql: ResourceSql): void {
  sql.transaction(() => {
    for (const ddl of TABLES) sql.exec(ddl);
    const row = sql.get<{ value: string }>("SELECT value FROM _resource_meta WHERE key = 'schema_version'");
    const from = row ? Number(row.value) : RESOURCE_SCHEMA_VERSION;
    if (from > RESOURCE_SCHEMA_VERSION) {
      throw new Error(
        `storage resource schema ${from} is newer than this Berth (${RESOURCE_SCHEMA_VERSION}); refusing to open it`,
      );
    }
    sql.run(
      `INSERT INTO _resource_meta (key, value) VALUES ('schema_version', ?)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
      String(RESOURCE_SCHEMA_VERSION),
    );
  });
}
