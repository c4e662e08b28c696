import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { type LokiDouble, startLokiDouble } from './support/loki-double.js';

/**
 * The double against the recorded Loki 2.7.5 exchanges themselves: the same request bytes must get
 * the same answer bytes (handshake, frames, close codes, error bodies), up to what changes per run
 * (Date headers, timestamps, the order of label keys, which Loki itself varies).
 */
// The exchanges this test replays, copied from the recording (their index is the recording's README);
// LOKIBAN_LOKI_CAPTURES points at a whole recording instead.
const CAPTURES =
  process.env.LOKIBAN_LOKI_CAPTURES ?? fileURLToPath(new URL('fixtures/loki-2.7.5/', import.meta.url));

interface Frame {
  direction: string;
  opcode?: number;
  payload?: string;
  payload_base64?: string;
  payload_json?: unknown;
  push_body?: { streams: Array<{ stream: Record<string, string>; values: string[][] }> };
}

interface Capture {
  request: { raw_target: string; headers: string[][] };
  response: { status_line: string; headers: string[][]; body?: string };
  frames?: Frame[];
}

const capture = (name: string): Capture => JSON.parse(readFileSync(join(CAPTURES, name), 'utf8')) as Capture;

/** Reads the socket until it closes or `until` says enough; returns everything received. */
function exchange(
  port: number,
  request: string,
  until: (data: Buffer) => boolean,
): Promise<{ data: Buffer; socket: Socket; closed: boolean }> {
  return new Promise((resolvePromise, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      resolvePromise({ data, socket, closed });
    };
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk]);
      if (until(data)) finish(false);
    });
    socket.on('close', () => finish(true));
    socket.on('error', reject);
    socket.write(request);
  });
}

function rawRequest(c: Capture, port: number, rawTarget = c.request.raw_target): string {
  const headers = c.request.headers.map(([name, value]) =>
    name === 'Host' ? `Host: 127.0.0.1:${port}` : `${name}: ${value}`,
  );
  return `GET ${rawTarget} HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\n`;
}

function head(data: Buffer): { statusLine: string; headers: string[][]; rest: Buffer } {
  const end = data.indexOf('\r\n\r\n');
  const [statusLine, ...lines] = data.subarray(0, end).toString('latin1').split('\r\n');
  return {
    statusLine: statusLine!,
    headers: lines.map((line) => {
      const colon = line.indexOf(': ');
      return [line.slice(0, colon), line.slice(colon + 2)];
    }),
    rest: data.subarray(end + 4),
  };
}

function serverFrames(data: Buffer): Array<{ opcode: number; payload: Buffer }> {
  const frames: Array<{ opcode: number; payload: Buffer }> = [];
  let offset = 0;
  while (offset + 2 <= data.length) {
    const opcode = data[offset]! & 0x0f;
    let length = data[offset + 1]! & 0x7f;
    let start = offset + 2;
    if (length === 126) {
      length = data.readUInt16BE(offset + 2);
      start = offset + 4;
    }
    if (start + length > data.length) break;
    frames.push({ opcode, payload: data.subarray(start, start + length) });
    offset = start + length;
  }
  return frames;
}

const sortLabels = (payload: unknown) =>
  JSON.stringify(payload, (_key, value) =>
    value &&
    typeof value === 'object' &&
    !Array.isArray(value) &&
    !('streams' in value) &&
    !('stream' in value)
      ? Object.fromEntries(Object.entries(value).sort())
      : value,
  );

describe('Loki double against the Loki 2.7.5 captures', () => {
  let loki: LokiDouble | undefined;
  afterEach(async () => {
    await loki?.close();
    loki = undefined;
  });
  const port = () => Number(new URL(loki!.url).port);

  it('answers the tail upgrade with the recorded 101, byte for byte (tail_01)', async () => {
    loki = await startLokiDouble();
    const c = capture('tail_01_basic.json');
    const { data, socket } = await exchange(port(), rawRequest(c, port()), (d) => d.includes('\r\n\r\n'));
    socket.destroy();
    const { statusLine, headers } = head(data);
    expect(statusLine).toBe(c.response.status_line);
    expect(headers).toEqual(c.response.headers);
  });

  it('sends a pipeline tail’s frame as recorded: one element per entry, extracted labels (tail_02)', async () => {
    loki = await startLokiDouble({ lineDelayMs: 10 });
    const c = capture('tail_02_pipeline_filter_regexp.json');
    const push = c.frames!.find((f) => f.direction === 'note' && f.push_body)!.push_body!;
    const recorded = c.frames!.find((f) => f.direction === 'server->client' && f.opcode === 1)!;
    const { socket } = await exchange(port(), rawRequest(c, port()), (d) => d.includes('\r\n\r\n'));
    let data = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk]);
    });
    loki.push(
      push.streams.flatMap((s) => s.values.map(([ns, line]) => ({ labels: s.stream, ns: ns!, line: line! }))),
    );
    const deadline = Date.now() + 5000;
    while (!serverFrames(data).some((f) => f.opcode === 1) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    socket.destroy();
    const text = serverFrames(data)
      .find((f) => f.opcode === 1)!
      .payload.toString('utf8');
    expect(sortLabels(JSON.parse(text))).toBe(sortLabels(recorded.payload_json));
  });

  it('closes an invalid query with the recorded 1011 frame, and a metric query too (tail_03, tail_03b)', async () => {
    loki = await startLokiDouble();
    for (const name of ['tail_03_invalid_query.json', 'tail_03b_metric_query.json']) {
      const c = capture(name);
      const { data, socket } = await exchange(port(), rawRequest(c, port()), (d) => {
        const h = d.indexOf('\r\n\r\n');
        return h >= 0 && serverFrames(d.subarray(h + 4)).length > 0;
      });
      socket.destroy();
      const [frame] = serverFrames(head(data).rest);
      const recorded = c.frames!.find((f) => f.direction === 'server->client' && f.opcode === 8)!;
      expect(frame!.opcode).toBe(8);
      expect(frame!.payload.toString('base64')).toBe(recorded.payload_base64);
    }
  });

  it('drops the TCP connection with no close frame for a long error (tail_03c)', async () => {
    loki = await startLokiDouble();
    const c = capture('tail_03c_empty_compatible_matcher.json');
    const { data, closed } = await exchange(port(), rawRequest(c, port()), () => false);
    expect(closed).toBe(true);
    expect(head(data).statusLine).toBe('HTTP/1.1 101 Switching Protocols');
    expect(head(data).rest.length).toBe(0);
  });

  it('sends a backfill frame right after the upgrade, the newest `limit` entries oldest first (tail_04b)', async () => {
    loki = await startLokiDouble();
    // tail_04b ran on the stream tail_04 left: five past lines and one live line.
    const before = capture('tail_04_start_in_past_backfill.json');
    const pushed = (before.frames!.find((f) => f.direction === 'note') as unknown as { pushed: string[][] })
      .pushed;
    const live = before.frames!.find((f) => f.push_body)!.push_body!.streams[0]!.values;
    loki.push([...pushed, ...live].map(([ns, line]) => ({ labels: { job: 'tail3' }, ns: ns!, line: line! })));
    await new Promise((r) => setTimeout(r, 600));
    const c = capture('tail_04b_backfill_limit2.json');
    const { data, socket } = await exchange(port(), rawRequest(c, port()), (d) => {
      const h = d.indexOf('\r\n\r\n');
      return h >= 0 && serverFrames(d.subarray(h + 4)).length > 0;
    });
    socket.destroy();
    const [frame] = serverFrames(head(data).rest);
    const recorded = c.frames!.find((f) => f.direction === 'server->client' && f.opcode === 1)!;
    expect(frame!.payload.toString('utf8')).toBe(recorded.payload);
  });

  it('refuses parameter errors with the recorded plain-text 400s (tail_03d, tail_03e)', async () => {
    loki = await startLokiDouble();
    for (const name of ['tail_03d_delay_for_too_big.json', 'tail_03e_bad_limit.json']) {
      const c = capture(name);
      const { data } = await exchange(port(), rawRequest(c, port()), () => false);
      const { statusLine, headers, rest } = head(data);
      expect(statusLine).toBe(c.response.status_line);
      expect(headers.map(([n]) => n)).toEqual(c.response.headers.map(([n]) => n));
      expect(rest.toString('utf8')).toBe(c.response.body);
    }
  });

  it('answers query_range errors like Loki (query_range_04, _04d)', async () => {
    loki = await startLokiDouble();
    for (const name of ['query_range_04d_empty_compatible_matcher.json']) {
      const c = capture(name);
      const response = await fetch(`${loki.url}${c.request.raw_target}`);
      expect(`HTTP/1.1 ${response.status} ${response.statusText}`).toBe(c.response.status_line);
      expect(response.headers.get('content-type')).toBe('application/json; charset=UTF-8');
      expect(await response.text()).toBe(c.response.body);
    }
  });
});
