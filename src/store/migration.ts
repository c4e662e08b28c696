/**
 * One numbered schema change. Both engines keep an ordered list of these (sqlite/migrations.ts records
 * them in `schema_version`, postgres/migrations.ts in `schema_migrations`, the tables their released
 * databases already have), apply each newer one in its own transaction, and refuse a database whose
 * schema is newer than the code. Never edit a released entry: append the next version.
 */
export interface Migration {
  version: number;
  /** Shown in the error when the migration fails. */
  name: string;
  sql: string;
}
