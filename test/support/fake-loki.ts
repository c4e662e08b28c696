import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One entry as Loki stores it: the stream's labels, a nanosecond timestamp and the line. */
export interface LokiEntry {
  stream: Record<string, string>;
  ns: string;
  line: string;
}

export interface PushRequest {
  headers: IncomingHttpHeaders;
  entries: LokiEntry[];
}

export interface FakeLoki {
  url: string;
  /** Every request Loki accepted, in order. */
  accepted: PushRequest[];
  /** Every request received, whatever the answer. */
  received: number;
  /** What Loki keeps: one copy per (stream, timestamp, line), like Loki's own de-duplication. */
  stored(): LokiEntry[];
  /** The next answers, one per request, before the server goes back to accepting (204). */
  failNext(...statuses: number[]): void;
  close(): Promise<void>;
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * Validates a push body the way Loki's JSON push handler does (pkg/loghttp/push): `streams` of
 * `{stream: {label: string}, values: [[ns as a decimal string, line as a string], …]}`. Anything
 * else is a 400, so a shipper that sends numbers, bad labels or a wrong shape fails here too.
 */
function parsePush(body: string): LokiEntry[] | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return 'body is not JSON';
  }
  const streams = (parsed as { streams?: unknown })?.streams;
  if (!Array.isArray(streams)) return 'streams must be an array';
  const entries: LokiEntry[] = [];
  for (const item of streams) {
    const { stream, values } = item as { stream?: unknown; values?: unknown };
    if (typeof stream !== 'object' || stream === null || Array.isArray(stream))
      return 'stream must be an object';
    const labels = stream as Record<string, unknown>;
    if (Object.keys(labels).length === 0) return 'a stream needs at least one label';
    for (const [name, value] of Object.entries(labels)) {
      if (!LABEL_NAME.test(name)) return `invalid label name ${name}`;
      if (typeof value !== 'string') return `label ${name} must be a string`;
    }
    if (!Array.isArray(values)) return 'values must be an array';
    for (const value of values) {
      if (!Array.isArray(value) || value.length < 2 || value.length > 3) return 'each value is [ts, line]';
      const [ns, line] = value as unknown[];
      if (typeof ns !== 'string' || !/^\d{1,19}$/.test(ns))
        return `timestamp must be a string of nanoseconds: ${String(ns)}`;
      if (typeof line !== 'string') return 'line must be a string';
      entries.push({ stream: labels as Record<string, string>, ns, line });
    }
  }
  return entries;
}

export async function startFakeLoki(): Promise<FakeLoki> {
  const accepted: PushRequest[] = [];
  const answers: number[] = [];
  let received = 0;
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received++;
      if (request.method !== 'POST' || request.url !== '/loki/api/v1/push') {
        response.writeHead(404).end('404 page not found\n');
        return;
      }
      const planned = answers.shift();
      if (planned !== undefined) {
        response.writeHead(planned, { 'content-type': 'text/plain' }).end(`planned ${planned}\n`);
        return;
      }
      if (!String(request.headers['content-type']).startsWith('application/json')) {
        response.writeHead(415).end('expected application/json\n');
        return;
      }
      const entries = parsePush(Buffer.concat(chunks).toString('utf8'));
      if (typeof entries === 'string') {
        response.writeHead(400, { 'content-type': 'text/plain' }).end(`${entries}\n`);
        return;
      }
      accepted.push({ headers: request.headers, entries });
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    accepted,
    get received() {
      return received;
    },
    stored() {
      const seen = new Map<string, LokiEntry>();
      for (const request of accepted) {
        for (const entry of request.entries) {
          const stream = JSON.stringify(Object.entries(entry.stream).sort());
          seen.set(`${stream}\u0000${entry.ns}\u0000${entry.line}`, entry);
        }
      }
      return [...seen.values()].sort((a, b) =>
        BigInt(a.ns) < BigInt(b.ns) ? -1 : BigInt(a.ns) > BigInt(b.ns) ? 1 : 0,
      );
    },
    failNext(...statuses) {
      answers.push(...statuses);
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
