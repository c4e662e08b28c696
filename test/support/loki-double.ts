import { createHash } from 'node:crypto';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type RequestListener,
  type Server,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { compileQuery } from '../../src/logql/evaluate.js';
import { parseRuleQuery, syntaxErrors } from '../../src/logql/query.js';

/**
 * A Loki 2.7.5 double for the tail and query_range endpoints, written from the exchanges recorded
 * in ../shared/loki-captures (README there). What it copies, byte for byte:
 * - the 101 answer carries only Upgrade, Connection and Sec-WebSocket-Accept (tail_01);
 * - an empty ping every second, whether or not there is data (tail_01, tail_06);
 * - text frames `{"streams":[{"stream":{…},"values":[["<ns>","<line>"]]}, …]}`, one element per entry,
 *   extracted labels among the stream labels (tail_02), no `dropped_entries` key unless asked for;
 * - `start` in the past: one backfill frame right after the upgrade, oldest first, the `limit` newest
 *   entries (tail_04, tail_04b); live lines `lineDelayMs` (0.5 s recorded) after the push;
 * - a query error: 101, then close 1011 with the parse error as the reason (tail_03, tail_03b), or
 *   TCP closed with no close frame when the reason exceeds 123 bytes (tail_03c);
 * - parameter errors as plain-text 400s before the upgrade (tail_03d, tail_03e);
 * - a client close 1000 answered with close 1000 and an empty reason, then EOF;
 * - query_range: the `streams` answer with its stats block (query_range_01, _01b), 400 with the parse
 *   error as a text body in a JSON content type (query_range_04*).
 * Which lines a query keeps is decided by the project's evaluator, the one that agrees with a real
 * Loki line for line on fail2ban's corpus.
 */
export interface DoubleEntry {
  labels: Record<string, string>;
  ns: string;
  line: string;
}

export interface TailRequest {
  rawTarget: string;
  params: URLSearchParams;
  headers: IncomingHttpHeaders;
}

export interface LokiDouble {
  url: string;
  /** Every tail upgrade request, in order. */
  tails: TailRequest[];
  /** Every query_range request, in order. */
  queries: TailRequest[];
  /** Stores entries and sends them to the live tails that select them, `lineDelayMs` later. */
  push(entries: DoubleEntry[]): void;
  /** Open tail connections. */
  openTails(): number;
  /** Drops every tail's TCP connection without a close frame, as a network failure would. */
  dropTails(): void;
  /** Every open tail goes silent (no pings, no frames) with its TCP connection left open: a dead path. */
  stallTails(): void;
  /** Sends a frame with `dropped_entries` (Loki's documented field) on every open tail. */
  sendDropped(entries: DoubleEntry[]): void;
  /** Answers the next n tail upgrades with close 1011 and this reason (e.g. the tail limit). */
  refuseNextTails(n: number, reason: string): void;
  /** Called with each text frame's payload as it is written (the benchmark's "frame received"). */
  onFrame?: (payload: string) => void;
  close(): Promise<void>;
}

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
// tail_03c: gorilla/websocket refuses a close reason longer than 123 bytes and Loki drops the TCP.
const MAX_CLOSE_REASON = 123;
// query_range_01b: the stats block Loki 2.7.5 appends to a streams answer.
const STATS =
  '{"summary":{"bytesProcessedPerSecond":69519,"linesProcessedPerSecond":1243,"totalBytesProcessed":559,"totalLinesProcessed":10,"execTime":0.008040898,"queueTime":0.008854678,"subqueries":18,"totalEntriesReturned":3},"querier":{"store":{"totalChunksRef":0,"totalChunksDownloaded":0,"chunksDownloadTime":0,"chunk":{"headChunkBytes":0,"headChunkLines":0,"decompressedBytes":0,"decompressedLines":0,"compressedBytes":0,"totalDuplicates":0}}},"ingester":{"totalReached":16,"totalChunksMatched":4,"totalBatches":3,"totalLinesSent":7,"store":{"totalChunksRef":0,"totalChunksDownloaded":0,"chunksDownloadTime":0,"chunk":{"headChunkBytes":559,"headChunkLines":10,"decompressedBytes":0,"decompressedLines":0,"compressedBytes":0,"totalDuplicates":0}}},"cache":{"chunk":{"entriesFound":0,"entriesRequested":0,"entriesStored":0,"bytesReceived":0,"bytesSent":0,"requests":0},"index":{"entriesFound":0,"entriesRequested":0,"entriesStored":0,"bytesReceived":0,"bytesSent":0,"requests":0},"result":{"entriesFound":0,"entriesRequested":0,"entriesStored":0,"bytesReceived":0,"bytesSent":0,"requests":0}}}';

type Evaluator = (entry: DoubleEntry) => Record<string, string> | null;

/** Loki's answer to a query it cannot run, as its tail and query_range report it. */
function queryError(query: string): string | undefined {
  const trimmed = query.trim();
  if (/^[a-z_]+\(/.test(trimmed)) return 'only log selector is supported';
  const errors = syntaxErrors(trimmed);
  if (errors.length > 0) {
    // The form of tail_03's reason; Loki's own wording of the expected tokens varies by position.
    return `parse error at line 1, col ${errors[0]! + 1}: syntax error: unexpected $end, expecting } or ,`;
  }
  try {
    compile(trimmed);
  } catch (error) {
    const message = (error as Error).message;
    if (message.includes('empty value')) {
      return 'parse error : queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~".*" does not meet this requirement, but app=~".+" will';
    }
    return `parse error : ${message}`;
  }
  return undefined;
}

function compile(query: string): Evaluator {
  const compiled = compileQuery(parseRuleQuery(`sum by (x) (count_over_time(${query} [1m])) >= 1`));
  return (entry) => (compiled.selects(entry.labels) ? compiled.process(entry.line, entry.labels) : null);
}

function compareNs(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

function frame(opcode: number, payload: Buffer): Buffer {
  const length = payload.length;
  const header =
    length < 126
      ? Buffer.from([0x80 | opcode, length])
      : length < 65_536
        ? Buffer.from([0x80 | opcode, 126, length >> 8, length & 0xff])
        : (() => {
            const h = Buffer.alloc(10);
            h[0] = 0x80 | opcode;
            h[1] = 127;
            h.writeBigUInt64BE(BigInt(length), 2);
            return h;
          })();
  return Buffer.concat([header, payload]);
}

function streamsPayload(
  entries: Array<{ labels: Record<string, string>; ns: string; line: string }>,
): string {
  return JSON.stringify({
    streams: entries.map((entry) => ({ stream: entry.labels, values: [[entry.ns, entry.line]] })),
  });
}

interface OpenTail {
  socket: Socket;
  evaluate: Evaluator;
  ping: NodeJS.Timeout;
  closed: boolean;
  stalled?: boolean;
}

export async function startLokiDouble(
  options: { lineDelayMs?: number; tls?: { key: string; cert: string } } = {},
): Promise<LokiDouble> {
  const lineDelayMs = options.lineDelayMs ?? 500;
  const stored: DoubleEntry[] = [];
  const tails: TailRequest[] = [];
  const queries: TailRequest[] = [];
  const open = new Set<OpenTail>();
  const timers = new Set<NodeJS.Timeout>();
  let refusals: Array<string> = [];

  const double: LokiDouble = {
    url: '',
    tails,
    queries,
    push(entries) {
      stored.push(...entries);
      // Loki hands a push to the tails connected when it is ingested; later tails get it as backfill.
      const targets = [...open];
      const timer = setTimeout(() => {
        timers.delete(timer);
        for (const tail of targets) send(tail, entries);
      }, lineDelayMs);
      timers.add(timer);
    },
    openTails: () => open.size,
    dropTails() {
      for (const tail of open) end(tail, true);
    },
    stallTails() {
      for (const tail of open) {
        clearInterval(tail.ping);
        tail.stalled = true;
      }
    },
    sendDropped(entries) {
      const payload = JSON.stringify({
        streams: [],
        dropped_entries: entries.map((entry) => ({ labels: entry.labels, timestamp: entry.ns })),
      });
      for (const tail of open) tail.socket.write(frame(0x1, Buffer.from(payload)));
    },
    refuseNextTails(n, reason) {
      refusals = [...refusals, ...Array.from({ length: n }, () => reason)];
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      for (const tail of open) end(tail, true);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  function send(tail: OpenTail, entries: DoubleEntry[]): void {
    if (tail.closed || tail.stalled) return;
    const kept = entries.flatMap((entry) => {
      const labels = tail.evaluate(entry);
      return labels ? [{ labels, ns: entry.ns, line: entry.line }] : [];
    });
    if (kept.length === 0) return;
    const payload = streamsPayload(kept);
    double.onFrame?.(payload);
    tail.socket.write(frame(0x1, Buffer.from(payload)));
  }

  function end(tail: OpenTail, dropTcp: boolean): void {
    if (tail.closed) return;
    tail.closed = true;
    clearInterval(tail.ping);
    open.delete(tail);
    if (dropTcp) tail.socket.destroy();
    else tail.socket.end();
  }

  const handler: RequestListener = (request, response) => {
    const url = new URL(request.url ?? '/', 'http://loki');
    if (url.pathname !== '/loki/api/v1/query_range') {
      response.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('404 page not found\n');
      return;
    }
    queries.push({ rawTarget: request.url ?? '', params: url.searchParams, headers: request.headers });
    const query = url.searchParams.get('query') ?? '';
    const problem = queryError(query);
    const date = new Date().toUTCString();
    if (problem) {
      response.writeHead(400, {
        'Content-Type': 'application/json; charset=UTF-8',
        Date: date,
        'Content-Length': Buffer.byteLength(problem),
      });
      response.end(problem);
      return;
    }
    const evaluate = compile(query);
    const start = url.searchParams.get('start') ?? '0';
    const endNs = url.searchParams.get('end') ?? `${Date.now()}000000`;
    const limit = Number(url.searchParams.get('limit') ?? '100');
    const forward = url.searchParams.get('direction') === 'forward';
    const selected = stored
      .filter((entry) => compareNs(entry.ns, start) >= 0 && compareNs(entry.ns, endNs) < 0)
      .flatMap((entry) => {
        const labels = evaluate(entry);
        return labels ? [{ labels, ns: entry.ns, line: entry.line }] : [];
      })
      .sort((a, b) => (forward ? compareNs(a.ns, b.ns) : compareNs(b.ns, a.ns)))
      .slice(0, limit);
    const byStream = new Map<string, { stream: Record<string, string>; values: string[][] }>();
    for (const entry of selected) {
      const key = JSON.stringify(Object.entries(entry.labels).sort());
      const stream = byStream.get(key) ?? { stream: entry.labels, values: [] };
      stream.values.push([entry.ns, entry.line]);
      byStream.set(key, stream);
    }
    const result = [...byStream.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, s]) => s);
    const body = `{"status":"success","data":{"resultType":"streams","result":${JSON.stringify(result)},"stats":${STATS}}}`;
    response.writeHead(200, {
      'Content-Type': 'application/json',
      Date: date,
      'Content-Length': Buffer.byteLength(body),
    });
    response.end(body);
  };
  const server: Server = options.tls ? createHttpsServer(options.tls, handler) : createServer(handler);

  server.on('upgrade', (request: IncomingMessage, socket: Socket) => {
    const url = new URL(request.url ?? '/', 'http://loki');
    const plain = (status: string, body: string) => {
      socket.end(
        `HTTP/1.1 ${status}\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nDate: ${new Date().toUTCString()}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    };
    if (url.pathname !== '/loki/api/v1/tail') {
      plain('404 Not Found', '404 page not found\n');
      return;
    }
    tails.push({ rawTarget: request.url ?? '', params: url.searchParams, headers: request.headers });
    const limitText = url.searchParams.get('limit');
    if (limitText !== null && !/^-?\d+$/.test(limitText)) {
      plain('400 Bad Request', `strconv.Atoi: parsing ${JSON.stringify(limitText)}: invalid syntax\n`);
      return;
    }
    const delayFor = Number(url.searchParams.get('delay_for') ?? '0');
    if (delayFor > 5) {
      plain('400 Bad Request', "delay_for can't be greater than 5\n");
      return;
    }
    const key = request.headers['sec-websocket-key'];
    const accept = createHash('sha1').update(`${key}${WS_GUID}`).digest('base64');
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
    );
    const query = url.searchParams.get('query') ?? '';
    const refusal = refusals.shift() ?? queryError(query);
    if (refusal !== undefined) {
      if (Buffer.byteLength(refusal) > MAX_CLOSE_REASON) {
        socket.destroy();
        return;
      }
      const payload = Buffer.concat([Buffer.from([0x03, 0xf3]), Buffer.from(refusal)]);
      socket.write(frame(0x8, payload));
      socket.on('data', () => socket.end());
      setTimeout(() => socket.destroy(), 100).unref();
      return;
    }
    const tail: OpenTail = {
      socket,
      evaluate: compile(query),
      ping: setInterval(() => socket.write(frame(0x9, Buffer.alloc(0))), 1000),
      closed: false,
    };
    open.add(tail);
    socket.on('close', () => end(tail, true));
    socket.on('error', () => end(tail, true));
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      // Client frames are masked; only close matters (pongs are read and ignored).
      while (pending.length >= 2) {
        const opcode = pending[0]! & 0x0f;
        let length = pending[1]! & 0x7f;
        let offset = 2;
        if (length === 126) {
          if (pending.length < 4) return;
          length = pending.readUInt16BE(2);
          offset = 4;
        } else if (length === 127) {
          if (pending.length < 10) return;
          length = Number(pending.readBigUInt64BE(2));
          offset = 10;
        }
        if (pending.length < offset + 4 + length) return;
        pending = pending.subarray(offset + 4 + length);
        if (opcode === 0x8) {
          socket.write(frame(0x8, Buffer.from([0x03, 0xe8])));
          end(tail, false);
          return;
        }
      }
    });
    // Start in the past: one frame with the `limit` newest stored entries, oldest first (tail_04b).
    const start = url.searchParams.get('start') ?? `${BigInt(Date.now() - 3_600_000) * 1_000_000n}`;
    const limit = Number(limitText ?? '100');
    const backfill = stored
      .filter((entry) => compareNs(entry.ns, start) >= 0)
      .flatMap((entry) => {
        const labels = tail.evaluate(entry);
        return labels ? [{ labels, ns: entry.ns, line: entry.line }] : [];
      })
      .sort((a, b) => compareNs(a.ns, b.ns))
      .slice(-limit);
    if (backfill.length > 0) socket.write(frame(0x1, Buffer.from(streamsPayload(backfill))));
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  double.url = `${options.tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return double;
}
