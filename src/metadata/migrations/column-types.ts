import {
  type ColumnDefinitionBuilder,
  type CreateTableBuilder,
  type Expression,
  type Kysely,
  PostgresAdapter,
  sql,
} from 'kysely';

type DataType = 'text' | 'blob' | 'bytea' | Expression<unknown>;

/**
 * The column types a migration writes, per dialect. On SQLite they are exactly what the migrations
 * created before PostgreSQL was supported, so existing databases and fresh ones stay identical.
 * On PostgreSQL text compares byte by byte (collation "C"), as SQLite does: tag and repository
 * listings, and the pages cut by `last=`, come out in the same order on both.
 */
export interface ColumnTypes {
  /** Adds `id`, an integer key the database numbers: AUTOINCREMENT on SQLite, serial on PostgreSQL. */
  addId<T extends string, C extends string>(table: CreateTableBuilder<T, C>): CreateTableBuilder<T, C | 'id'>;
  text: DataType;
  bytes: DataType;
}

export function columnTypes(db: Kysely<unknown>): ColumnTypes {
  if (isPostgres(db)) {
    return {
      addId: (table) => table.addColumn('id', 'serial', (column: ColumnDefinitionBuilder) => column.primaryKey()),
      text: sql`text collate "C"`,
      bytes: 'bytea',
    };
  }
  return {
    addId: (table) =>
      table.addColumn('id', 'integer', (column: ColumnDefinitionBuilder) => column.primaryKey().autoIncrement()),
    text: 'text',
    bytes: 'blob',
  };
}

export function isPostgres<T>(db: Kysely<T>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}
