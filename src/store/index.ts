import type { Config } from '../config/load.js';
import type { Store } from './port.js';
import { SqliteStore } from './sqlite/store.js';

// Resolved at run time so the SQLite-only build does not load the Postgres driver.
const POSTGRES_MODULE = './postgres/store.js';

/**
 * The store the configuration names, the engine's own object, not yet initialised: call init() before
 * use and close() on shutdown. Asynchronous because the Postgres engine is imported only when asked for.
 */
export async function createStore(storeConfig: Config['store']): Promise<Store> {
  if ('sqlite' in storeConfig) return new SqliteStore(storeConfig.sqlite);
  let module: { PostgresStore?: new (url: string) => Store };
  try {
    module = (await import(POSTGRES_MODULE)) as typeof module;
  } catch (error) {
    throw new Error(`postgres store not available: ${(error as Error).message}`);
  }
  if (!module.PostgresStore)
    throw new Error(`postgres store not available: ${POSTGRES_MODULE} exports no PostgresStore`);
  return new module.PostgresStore(storeConfig.postgres);
}
