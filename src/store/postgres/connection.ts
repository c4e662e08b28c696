import pg from 'pg';
import { StoreUnavailableError } from '../errors.js';

const INT8_OID = 20;

/**
 * Bounds every wait on the database so a caller always gets an answer within seconds: the webhook
 * route turns a StoreUnavailableError into 503 (Alertmanager retries) instead of hanging until the
 * sender's own timeout.
 */
export const CONNECTION_DEFAULTS = {
  max: 10,
  connectionTimeoutMillis: 3_000,
  /** Server-side cap per statement (also bounds advisory-lock waits). */
  statementTimeoutMillis: 10_000,
  /** Client-side cap: covers a server that stopped answering without closing the socket. */
  queryTimeoutMillis: 15_000,
  idleInTransactionTimeoutMillis: 30_000,
} as const;

export function createPool(url: string): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: CONNECTION_DEFAULTS.max,
    connectionTimeoutMillis: CONNECTION_DEFAULTS.connectionTimeoutMillis,
    statement_timeout: CONNECTION_DEFAULTS.statementTimeoutMillis,
    query_timeout: CONNECTION_DEFAULTS.queryTimeoutMillis,
    idle_in_transaction_session_timeout: CONNECTION_DEFAULTS.idleInTransactionTimeoutMillis,
    keepAlive: true,
    application_name: 'lokiban',
    // Epoch-ms BIGINTs fit a double exactly; parse them as numbers for this pool only.
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID && format !== 'binary'
          ? (value: string) => Number(value)
          : pg.types.getTypeParser(oid, format ?? 'text')) as typeof pg.types.getTypeParser,
    },
  });
  // An idle client loses its connection when the server restarts; without a listener the pool's
  // 'error' event would crash the process. The pool drops that client and connects anew on demand.
  pool.on('error', () => {});
  return pool;
}

const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, shutting down, recovery)
  '53300', // too_many_connections
  '57014', // query_canceled: statement_timeout
  '25P03', // idle_in_transaction_session_timeout
]);

const UNAVAILABLE_MESSAGES = [
  /connection terminated/i,
  /timeout exceeded when trying to connect/i,
  /query read timeout/i,
  /connection.*(closed|ended)/i,
  /not queryable/i,
];

/** True for failures of reachability or time, as opposed to a bad statement or a violated constraint. */
export function isUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (UNAVAILABLE_CODES.has(code) || code.startsWith('08'))) return true;
  if (error instanceof AggregateError) return error.errors.some(isUnavailable);
  return UNAVAILABLE_MESSAGES.some((pattern) => pattern.test(error.message));
}

/** Serialisation failure and deadlock: the transaction rolled back and can simply run again. */
export function isRetryable(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return code === '40001' || code === '40P01';
}

export function toStoreError(error: unknown, what: string): unknown {
  if (error instanceof StoreUnavailableError || !isUnavailable(error)) return error;
  return new StoreUnavailableError(`postgres unavailable during ${what}: ${(error as Error).message}`, {
    cause: error,
  });
}
