import type { Config } from '../config/load.js';
import type { Store } from './port.js';
import { SqliteStore } from './sqlite/store.js';

export type { Store } from './port.js';

interface StoreConstructor {
  new (url: string): Store;
}

// Resolved at run time so the SQLite-only build does not load the Postgres driver.
const POSTGRES_MODULE = './postgres/store.js';

async function loadPostgres(url: string): Promise<Store> {
  let module: { PostgresStore?: StoreConstructor };
  try {
    module = (await import(POSTGRES_MODULE)) as { PostgresStore?: StoreConstructor };
  } catch (error) {
    throw new Error(`postgres store not available: ${(error as Error).message}`);
  }
  if (!module.PostgresStore)
    throw new Error('postgres store not available: ./postgres/store.js exports no PostgresStore');
  return new module.PostgresStore(url);
}

/**
 * A Store whose implementation is loaded by init(); every other call before init() fails clearly.
 * Lets createStore stay synchronous while the Postgres module is imported lazily.
 */
class DeferredStore implements Store {
  private inner: Store | undefined;

  constructor(private readonly load: () => Promise<Store>) {}

  private get store(): Store {
    if (!this.inner) throw new Error('the store is not initialised: call init() first');
    return this.inner;
  }

  async init(): Promise<void> {
    this.inner ??= await this.load();
    await this.inner.init();
  }
  async close(): Promise<void> {
    await this.inner?.close();
  }
  ping: Store['ping'] = async () => this.store.ping();
  recordBatch: Store['recordBatch'] = async (...args) => this.store.recordBatch(...args);
  findBursts: Store['findBursts'] = async (...args) => this.store.findBursts(...args);
  manualBan: Store['manualBan'] = async (...args) => this.store.manualBan(...args);
  unban: Store['unban'] = async (...args) => this.store.unban(...args);
  getBan: Store['getBan'] = async (...args) => this.store.getBan(...args);
  listBans: Store['listBans'] = async (...args) => this.store.listBans(...args);
  stats: Store['stats'] = async (...args) => this.store.stats(...args);
  listAudit: Store['listAudit'] = async (...args) => this.store.listAudit(...args);
  pendingHosts: Store['pendingHosts'] = async (...args) => this.store.pendingHosts(...args);
  claimPending: Store['claimPending'] = async (...args) => this.store.claimPending(...args);
  markApplied: Store['markApplied'] = async (...args) => this.store.markApplied(...args);
  markFailed: Store['markFailed'] = async (...args) => this.store.markFailed(...args);
  desiredForHost: Store['desiredForHost'] = async (...args) => this.store.desiredForHost(...args);
  acquireLease: Store['acquireLease'] = async (...args) => this.store.acquireLease(...args);
  releaseLease: Store['releaseLease'] = async (...args) => this.store.releaseLease(...args);
}

/** The store named by the configuration. Call init() before use and close() on shutdown. */
export function createStore(storeConfig: Config['store']): Store {
  if ('sqlite' in storeConfig) return new SqliteStore(storeConfig.sqlite);
  const { postgres } = storeConfig;
  return new DeferredStore(() => loadPostgres(postgres));
}
