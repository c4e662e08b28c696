import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { backoffDelay } from '../lib/backoff.js';
import {
  compareNs,
  endpoint,
  type LokiConnection,
  type LokiEntry,
  LokiHttpError,
  msToNs,
  nsToMs,
  queryRangeForward,
  streamEntries,
} from './loki-client.js';

/**
 * Where the next connection resumes, and which entries it has already seen there. Loki's tail and
 * query_range include entries at `start` itself: those seen before are dropped, so a reconnect
 * neither misses nor counts a line twice. Entries older than the newest one seen (another stream's
 * late line) still count: the resume point never moves back, so Loki never sends them again.
 */
export class Resume {
  private newest: string | undefined;
  private atNewest = new Set<string>();

  constructor(start: string) {
    this.newest = start;
  }

  get startNs(): string {
    return this.newest!;
  }

  /** True if the entry is new; records it. */
  accept(entry: LokiEntry): boolean {
    const order = compareNs(entry.ns, this.newest!);
    const key = `${JSON.stringify(Object.entries(entry.labels).sort())}\n${entry.line}`;
    if (order < 0) return true;
    if (order === 0) {
      if (this.atNewest.has(key)) return false;
      this.atNewest.add(key);
      return true;
    }
    this.newest = entry.ns;
    this.atNewest = new Set([key]);
    return true;
  }
}

export type TailState = 'starting' | 'backfilling' | 'connected' | 'reconnecting' | 'invalid' | 'stopped';

export interface TailStatus {
  name: string;
  jails: string[];
  query: string;
  state: TailState;
  connected: boolean;
  reconnects: number;
  lastError?: string;
  /** Epoch ms of the newest entry seen. */
  lastEntryAt?: number;
}

export interface TailEvents {
  entries(entries: LokiEntry[], phase: 'backfill' | 'live'): void;
  dropped(count: number): void;
  reconnect(): void;
  /** The query is refused for good (a configuration error); the tail has stopped. */
  invalid(message: string): void;
  transientError(message: string): void;
  connected(): void;
}

export interface TailOptions {
  name: string;
  query: string;
  jails: string[];
  connection: LokiConnection;
  /** Epoch ms the start-up backfill reads from (now - findtime). */
  backfillFrom: number;
  retryMinMs: number;
  retryMaxMs: number;
  events: TailEvents;
  now?: () => number;
  random?: () => number;
  /** A connection that brings no frame (Loki pings every second) for this long is dropped. */
  idleTimeoutMs?: number;
}

/** A query error Loki reports by closing the websocket (1011) or by answering 400 before the upgrade. */
export class TailRefused extends Error {
  override name = 'TailRefused';
}

// Close reasons of Loki 2.7 for a query it can never run (captures tail_03, tail_03b); other 1011
// reasons, such as the concurrent-tail limit, clear up by themselves and are retried.
const QUERY_ERROR = /parse error|syntax error|only log selector|queries require|error parsing regexp/i;
/** Consecutive connections closed without a frame before the query counts as refused (tail_03c). */
const SILENT_REFUSALS = 3;
const TAIL_LIMIT = 1000;
const PAGE_LIMIT = 1000;
const MAX_PAGES = 1000;
const HTTP_TIMEOUT_MS = 30_000;

interface Ended {
  code: number;
  reason: string;
  /** The upgrade succeeded (101). */
  opened: boolean;
  framesSeen: number;
  error?: string;
}

/**
 * One live tail: backfill with query_range, then the websocket, and on any drop a backoff with jitter
 * and the same again from the last entry seen. Stops only on stop() or a refused query.
 */
export class LokiTail {
  private state: TailState = 'starting';
  private lastError: string | undefined;
  private reconnects = 0;
  private lastEntryAt: number | undefined;
  private socket: WebSocket | undefined;
  private readonly abort = new AbortController();
  private running: Promise<void> | undefined;
  private silentRefusals = 0;
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(private readonly options: TailOptions) {
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
  }

  start(): void {
    this.running ??= this.run();
  }

  async stop(): Promise<void> {
    this.state = 'stopped';
    this.abort.abort();
    this.socket?.close(1000);
    this.socket?.terminate();
    await this.running;
  }

  status(): TailStatus {
    const { name, jails, query } = this.options;
    return {
      name,
      jails,
      query,
      state: this.state,
      connected: this.state === 'connected',
      reconnects: this.reconnects,
      ...(this.lastError ? { lastError: this.lastError } : {}),
      ...(this.lastEntryAt !== undefined ? { lastEntryAt: this.lastEntryAt } : {}),
    };
  }

  private stopped(): boolean {
    return this.abort.signal.aborted;
  }

  private async run(): Promise<void> {
    const { events } = this.options;
    const resume = new Resume(msToNs(this.options.backfillFrom));
    let failures = 0;
    while (!this.stopped()) {
      let ended: Ended | undefined;
      try {
        this.state = 'backfilling';
        await this.backfill(resume);
        ended = await this.connect(resume);
      } catch (error) {
        if (this.stopped()) break;
        if (error instanceof TailRefused) {
          this.refuse(error.message);
          return;
        }
        this.lastError = (error as Error).message;
        events.transientError(this.lastError);
      }
      if (this.stopped()) break;
      if (ended) {
        if (ended.code === 1011 && QUERY_ERROR.test(ended.reason)) {
          this.refuse(`Loki refused the query: ${ended.reason}`);
          return;
        }
        if (ended.opened && ended.framesSeen === 0 && ended.code === 1006) {
          this.silentRefusals++;
          if (this.silentRefusals >= SILENT_REFUSALS) {
            this.refuse(
              `Loki accepted the tail and dropped the connection without a close frame ${SILENT_REFUSALS} times in a row: its error does not fit a close frame (Loki 2.7 does this for a long query error, e.g. a selector that matches empty values)`,
            );
            return;
          }
        } else if (ended.framesSeen > 0) {
          this.silentRefusals = 0;
          failures = 0;
        }
        this.lastError = ended.opened
          ? `tail closed (${ended.code}${ended.reason ? `: ${ended.reason}` : ''})`
          : `cannot connect: ${ended.error ?? `close ${ended.code}`}`;
        events.transientError(this.lastError);
      }
      failures++;
      this.reconnects++;
      this.state = 'reconnecting';
      events.reconnect();
      const delay = backoffDelay(failures, this.options.retryMinMs, this.options.retryMaxMs, this.random);
      try {
        await sleep(delay, undefined, { signal: this.abort.signal });
      } catch {
        break;
      }
    }
    this.state = 'stopped';
  }

  private refuse(message: string): void {
    this.state = 'invalid';
    this.lastError = message;
    this.options.events.invalid(message);
  }

  private deliver(entries: LokiEntry[], resume: Resume, phase: 'backfill' | 'live'): void {
    const fresh = entries.filter((entry) => resume.accept(entry));
    if (fresh.length === 0) return;
    for (const entry of fresh) this.lastEntryAt = Math.max(this.lastEntryAt ?? 0, nsToMs(entry.ns));
    this.options.events.entries(fresh, phase);
  }

  private async backfill(resume: Resume): Promise<void> {
    const end = msToNs(this.now());
    if (compareNs(resume.startNs, end) >= 0) return;
    try {
      for await (const page of queryRangeForward(
        this.options.connection,
        this.options.query,
        resume.startNs,
        end,
        {
          limit: PAGE_LIMIT,
          timeoutMs: HTTP_TIMEOUT_MS,
          maxPages: MAX_PAGES,
        },
      )) {
        if (this.stopped()) return;
        this.deliver(page, resume, 'backfill');
      }
    } catch (error) {
      // query_range answers a query error with 400 and the parse error (query_range_04*).
      if (error instanceof LokiHttpError && error.status === 400) {
        throw new TailRefused(`Loki refused the query: ${error.body.trim()}`);
      }
      throw error;
    }
    // Nothing newer than the backfill's end: the tail starts there, not at the last entry long ago.
    if (compareNs(resume.startNs, end) < 0) resume.accept({ labels: {}, ns: end, line: '' });
  }

  private connect(resume: Resume): Promise<Ended> {
    const { connection, query } = this.options;
    const url = endpoint(connection, '/loki/api/v1/tail', {
      query,
      delay_for: '0',
      limit: String(TAIL_LIMIT),
      // Always set: without it Loki replays the last hour (tail_05).
      start: resume.startNs,
    });
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    return new Promise<Ended>((resolve, reject) => {
      const socket = new WebSocket(url, {
        headers: connection.headers,
        perMessageDeflate: false,
        handshakeTimeout: HTTP_TIMEOUT_MS,
        followRedirects: false,
        ...(connection.ca ? { ca: connection.ca } : {}),
      });
      this.socket = socket;
      let framesSeen = 0;
      let opened = false;
      let failure: string | undefined;
      let idle: NodeJS.Timeout | undefined;
      const idleMs = this.options.idleTimeoutMs ?? 5_000;
      const alive = () => {
        framesSeen++;
        clearTimeout(idle);
        idle = setTimeout(() => socket.terminate(), idleMs);
      };
      socket.on('unexpected-response', (_request, response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8').trim().slice(0, 500);
          const status = response.statusCode ?? 0;
          socket.terminate();
          // Parameter errors are 400s before the upgrade (tail_03d, tail_03e): they never clear up.
          if (status === 400) reject(new TailRefused(`Loki refused the tail request: ${body}`));
          else reject(new LokiHttpError(status, body));
        });
      });
      socket.on('open', () => {
        opened = true;
        this.state = 'connected';
        this.options.events.connected();
        idle = setTimeout(() => socket.terminate(), idleMs);
      });
      socket.on('ping', alive);
      socket.on('message', (data, isBinary) => {
        alive();
        if (isBinary) return;
        let frame: { streams?: unknown; dropped_entries?: unknown };
        try {
          frame = JSON.parse(data.toString()) as typeof frame;
        } catch {
          this.options.events.transientError('a tail frame is not JSON');
          return;
        }
        if (Array.isArray(frame.dropped_entries) && frame.dropped_entries.length > 0) {
          this.options.events.dropped(frame.dropped_entries.length);
        }
        if (frame.streams === undefined) return;
        try {
          this.deliver(streamEntries(frame.streams), resume, 'live');
        } catch (error) {
          this.options.events.transientError(`a tail frame was malformed: ${(error as Error).message}`);
        }
      });
      socket.on('error', (error) => {
        // 'close' follows; the error only explains it.
        failure = error.message;
      });
      socket.on('close', (code, reason) => {
        clearTimeout(idle);
        this.socket = undefined;
        resolve({
          code,
          reason: reason.toString('utf8'),
          opened,
          framesSeen,
          ...(failure ? { error: failure } : {}),
        });
      });
    });
  }
}
