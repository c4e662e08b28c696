import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { DetectLokiSettings } from '../config/schema.js';

/** How the responder reaches Loki: base URL, tenant and credentials, CA. Built once at start-up. */
export interface LokiConnection {
  base: URL;
  headers: Record<string, string>;
  /** PEM text of the CA, for https. */
  ca?: string;
}

export function lokiConnection(settings: DetectLokiSettings): LokiConnection {
  const headers: Record<string, string> = { 'user-agent': 'lokiban' };
  if (settings.tenant) headers['x-scope-orgid'] = settings.tenant;
  if (settings.auth && 'bearer' in settings.auth) headers.authorization = `Bearer ${settings.auth.bearer}`;
  if (settings.auth && 'basic' in settings.auth) {
    const { username, password } = settings.auth.basic;
    headers.authorization = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  }
  let ca: string | undefined;
  if (settings.tls) {
    try {
      ca = readFileSync(settings.tls.ca, 'utf8');
    } catch (error) {
      throw new Error(`detect.loki.tls.ca: cannot read ${settings.tls.ca} (${(error as Error).message})`);
    }
  }
  // A base URL with a path prefix (behind a proxy) keeps it: endpoints are appended to it.
  const base = new URL(settings.url.endsWith('/') ? settings.url : `${settings.url}/`);
  return { base, headers, ...(ca ? { ca } : {}) };
}

export function endpoint(connection: LokiConnection, path: string, params: Record<string, string>): URL {
  const url = new URL(path.replace(/^\//, ''), connection.base);
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  return url;
}

/** One entry as the tail and query_range deliver it. */
export interface LokiEntry {
  labels: Record<string, string>;
  /** Nanoseconds since the epoch, as Loki sends it (a decimal string). */
  ns: string;
  line: string;
}

/** Loki's HTTP error: the status and the first part of its plain-text body. */
export class LokiHttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`Loki answered ${status}: ${body.trim().slice(0, 300)}`);
    this.name = 'LokiHttpError';
  }
}

const MAX_BODY = 64 * 1024 * 1024;

/** GET with the connection's headers and CA; resolves with the body of a 2xx, rejects otherwise. */
export function lokiGet(connection: LokiConnection, url: URL, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = (url.protocol === 'https:' ? httpsRequest : httpRequest)(
      url,
      {
        method: 'GET',
        headers: { ...connection.headers, accept: 'application/json' },
        ...(connection.ca ? { ca: connection.ca } : {}),
        timeout: timeoutMs,
      },
      (response: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_BODY) {
            request.destroy(new Error(`Loki's answer exceeds ${MAX_BODY} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        response.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          const status = response.statusCode ?? 0;
          if (status >= 200 && status < 300) resolve(body);
          else reject(new LokiHttpError(status, body));
        });
        response.on('error', reject);
      },
    );
    request.on('timeout', () => request.destroy(new Error(`no answer from Loki within ${timeoutMs} ms`)));
    request.on('error', reject);
    request.end();
  });
}

/** Entries of a `streams` result (tail frame or query_range data), in the order given. */
export function streamEntries(streams: unknown): LokiEntry[] {
  if (!Array.isArray(streams)) throw new Error('streams is not an array');
  const entries: LokiEntry[] = [];
  for (const item of streams) {
    const { stream, values } = (item ?? {}) as { stream?: unknown; values?: unknown };
    if (typeof stream !== 'object' || stream === null || !Array.isArray(values)) {
      throw new Error('a stream needs labels and values');
    }
    const labels: Record<string, string> = {};
    for (const [name, value] of Object.entries(stream)) {
      if (typeof value === 'string') labels[name] = value;
    }
    for (const value of values) {
      const [ns, line] = Array.isArray(value) ? value : [];
      if (typeof ns !== 'string' || !/^\d{1,19}$/.test(ns) || typeof line !== 'string') {
        throw new Error('an entry is not ["<ns>", "<line>"]');
      }
      entries.push({ labels, ns, line });
    }
  }
  return entries;
}

export function compareNs(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

export function nsToMs(ns: string): number {
  return Number(BigInt(ns) / 1_000_000n);
}

export function msToNs(ms: number): string {
  return (BigInt(Math.floor(ms)) * 1_000_000n).toString();
}

/**
 * `query_range` forward from `startNs` to `endNs`, page by page (`limit` entries each, the oldest
 * first across streams): the start-up backfill and the gap after a reconnect. Yields pages in time
 * order; the next page starts at the last timestamp of the previous one, whose entries the caller's
 * de-duplication (Resume) drops.
 */
export async function* queryRangeForward(
  connection: LokiConnection,
  query: string,
  startNs: string,
  endNs: string,
  options: { limit: number; timeoutMs: number; maxPages: number },
): AsyncGenerator<LokiEntry[]> {
  let from = startNs;
  for (let page = 0; page < options.maxPages; page++) {
    const url = endpoint(connection, '/loki/api/v1/query_range', {
      query,
      start: from,
      end: endNs,
      limit: String(options.limit),
      direction: 'forward',
    });
    const body = await lokiGet(connection, url, options.timeoutMs);
    const parsed = JSON.parse(body) as { status?: string; data?: { resultType?: string; result?: unknown } };
    if (parsed.status !== 'success' || parsed.data?.resultType !== 'streams') {
      throw new Error(`query_range answered ${parsed.status ?? '?'} / ${parsed.data?.resultType ?? '?'}`);
    }
    const entries = streamEntries(parsed.data.result).sort((a, b) => compareNs(a.ns, b.ns));
    yield entries;
    if (entries.length < options.limit) return;
    const last = entries[entries.length - 1]!.ns;
    // A page made only of one timestamp cannot move forward by timestamps: step past it.
    from = last === from ? (BigInt(last) + 1n).toString() : last;
  }
  throw new Error(`the backfill needs more than ${options.maxPages} pages of ${options.limit} entries`);
}
