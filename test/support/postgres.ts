import { randomBytes } from 'node:crypto';
import pg from 'pg';

const VARIABLE = 'LOKIBAN_TEST_POSTGRES_URL';

/**
 * The Postgres the tests run against. In CI a missing variable is an error, never a silent skip;
 * on a laptop without Postgres the suites are skipped (and say why).
 */
export function postgresTestUrl(): string | undefined {
  const url = process.env[VARIABLE];
  if (url) return url;
  if (process.env.CI) {
    throw new Error(
      `${VARIABLE} is not set: CI must run the Postgres tests (scripts/test-all.sh starts Postgres and sets it)`,
    );
  }
  console.warn(`${VARIABLE} is not set: skipping the Postgres tests`);
  return undefined;
}

/** `url` with its search_path set to `schema`, so a store built from it lives only there. */
export function urlWithSchema(url: string, schema: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set('options', `-c search_path=${schema}`);
  return parsed.toString();
}

export interface TestSchema {
  name: string;
  /** Connection URL whose tables live in this schema only. */
  url: string;
  drop(): Promise<void>;
}

/** A fresh schema per test keeps suites that share one database (and run at once) apart. */
export async function createTestSchema(baseUrl: string, prefix = 'lkb_pg'): Promise<TestSchema> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE SCHEMA ${name}`);
  } finally {
    await admin.end();
  }
  return {
    name,
    url: urlWithSchema(baseUrl, name),
    async drop() {
      const client = new pg.Client({ connectionString: baseUrl });
      await client.connect();
      try {
        await client.query(`DROP SCHEMA IF EXISTS ${name} CASCADE`);
      } finally {
        await client.end();
      }
    },
  };
}
