/**
 * lokiban against fail2ban 1.0.2 (Debian's package), side by side in one run: 2,000 and 10,000 bans
 * into one host's nftables set, 3 repetitions, interleaved (fail2ban, then lokiban, for each count).
 *
 * fail2ban runs in a network namespace of its own, from a config directory of its own (a copy of
 * /etc/fail2ban without jail.d, plus a jail.local with one jail and the `nftables` action), with its
 * own socket, pid file and database; the machine's fail2ban service is never touched. The bans are
 * given with `fail2ban-client set bench banip …` in batches of 500; the clock stops when
 * `nft list set` in that namespace holds every address.
 *
 * lokiban bans the same count into another namespace host over SSH (sshd + nftables, the SQLite
 * store, the nftables backend), as bench/enforce/enforce.ts does: 1,000-alert deliveries recorded in
 * the store, the clock stops when the last `nft -f -` completing the count has exited 0.
 *
 * Run as root: `node --import tsx bench/compare/compare.ts`  (COMPARE_COUNTS=2000,10000 COMPARE_REPS=3)
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { parseConfig } from '../../src/config/load.js';
import { buildDecisionPolicy } from '../../src/config/policy.js';
import type { BatchItem } from '../../src/domain/types.js';
import { nftSetupScript } from '../../src/enforce/backends/nftables.js';
import { createEnforcement } from '../../src/enforce/index.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { createTestHost, type TestHost } from '../../test/support/netns.js';

const logger = pino({ level: 'silent' });
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
let serial = 0;

function ipFor(n: number): string {
  return `100.${64 + ((n >> 16) & 63)}.${(n >> 8) & 255}.${n & 255}`;
}

function offences(count: number): BatchItem[] {
  const now = Date.now();
  return Array.from({ length: count }, (_, index) => {
    serial += 1;
    const ip = ipFor(serial);
    return {
      kind: 'offence' as const,
      index,
      offence: {
        fingerprint: `compare-${serial}`,
        startsAt: now,
        jail: 'sshd',
        ip,
        reportedIp: ip,
        source: 'alertmanager' as const,
        labels: { ip, jail: 'sshd' },
        receivedAt: now,
      },
    };
  });
}

function run(argv: string[]): string {
  const out = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (out.status !== 0)
    throw new Error(`${argv.join(' ').slice(0, 200)} exited ${out.status}: ${out.stderr}`);
  return out.stdout;
}

/** Elements in a namespace's nft set, or 0 while the set does not exist yet. */
function setSize(ns: string, table: string, set: string, family = 'inet'): number {
  const out = spawnSync('ip', ['netns', 'exec', ns, 'nft', '-j', 'list', 'set', family, table, set], {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (out.status !== 0) return 0;
  const parsed = JSON.parse(out.stdout) as { nftables: { set?: { elem?: unknown[] } }[] };
  return parsed.nftables.find((entry) => entry.set)?.set?.elem?.length ?? 0;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const running = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

/** Sends `signal` to the child's process group (if given), waits up to `graceMs`, then SIGKILLs the group. */
async function endGroup(child: ChildProcess, signal: NodeJS.Signals | undefined, graceMs: number) {
  const kill = (sig: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, sig);
    } catch {
      // The group is already gone.
    }
  };
  if (!child.pid || !running(child)) return;
  if (signal) kill(signal);
  const until = Date.now() + graceMs;
  while (running(child) && Date.now() < until) await sleep(50);
  if (running(child)) kill('SIGKILL');
}

/** One fail2ban-server in namespace `ns`, its own config dir, socket, pid file and database. */
async function startFail2ban(ns: string) {
  const dir = mkdtempSync(join(tmpdir(), 'lkb-compare-f2b-'));
  const conf = join(dir, 'conf');
  cpSync('/etc/fail2ban', conf, { recursive: true });
  rmSync(join(conf, 'jail.d'), { recursive: true, force: true });
  const sock = join(dir, 'f2b.sock');
  writeFileSync(join(dir, 'empty.log'), '');
  writeFileSync(
    join(conf, 'fail2ban.local'),
    [
      '[Definition]',
      'loglevel = WARNING',
      `logtarget = ${join(dir, 'fail2ban.log')}`,
      `socket = ${sock}`,
      `pidfile = ${join(dir, 'f2b.pid')}`,
      `dbfile = ${join(dir, 'f2b.sqlite3')}`,
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(conf, 'jail.local'),
    [
      '[DEFAULT]',
      'bantime = 1d',
      'ignoreip =',
      '[bench]',
      'enabled = true',
      'filter = sshd',
      'backend = polling',
      `logpath = ${join(dir, 'empty.log')}`,
      'action = nftables[name=bench, port=ssh, protocol=tcp]',
      '',
    ].join('\n'),
  );
  const server = spawn(
    'ip',
    ['netns', 'exec', ns, 'fail2ban-server', '-f', '-x', '-c', conf, '-s', sock, '-p', join(dir, 'f2b.pid')],
    { stdio: 'ignore', detached: true },
  );
  const client = (args: string[]) => run(['fail2ban-client', '-c', conf, '-s', sock, ...args]);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const status = spawnSync('fail2ban-client', ['-c', conf, '-s', sock, 'status', 'bench'], {
      encoding: 'utf8',
    });
    if (status.status === 0) break;
    if (Date.now() > deadline || !running(server)) throw new Error('fail2ban-server did not start');
    await new Promise((r) => setTimeout(r, 200));
  }
  const stop = async () => {
    spawnSync('fail2ban-client', ['-c', conf, '-s', sock, 'stop'], { encoding: 'utf8', timeout: 60_000 });
    await endGroup(server, 'SIGTERM', 10_000);
    rmSync(dir, { recursive: true, force: true });
  };
  return { client, stop };
}

async function fail2banRun(host: TestHost, count: number, timeoutMs: number) {
  const f2b = await startFail2ban(host.ns);
  try {
    const ips = offences(count).map((item) => (item as Extract<BatchItem, { kind: 'offence' }>).offence.ip);
    const started = performance.now();
    for (let i = 0; i < ips.length; i += 500) f2b.client(['set', 'bench', 'banip', ...ips.slice(i, i + 500)]);
    const given = performance.now() - started;
    const deadline = started + timeoutMs;
    for (;;) {
      const seen = setSize(host.ns, 'f2b-table', 'addr-set-bench');
      if (seen >= count) break;
      if (performance.now() > deadline)
        throw new Error(`fail2ban: ${seen} of ${count} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 250));
    }
    return { total: performance.now() - started, given };
  } finally {
    await f2b.stop();
  }
}

/**
 * crowdsec-firewall-bouncer (nftables mode) in namespace `ns`, polling a stand-in Local API inside the
 * same namespace (bench/compare/lapi-standin.ts) every `frequency`. The bouncer starts against an
 * empty decision list; once it has created its set and polled a few times, the stand-in is armed and
 * its next poll gets `count` new ban decisions. The clock runs from arming to `count` elements in the
 * bouncer's set, so it includes the wait for the next poll, as it would with a real Local API.
 */
async function bouncerRun(ns: string, count: number, frequency: string) {
  const dir = mkdtempSync(join(tmpdir(), 'lkb-compare-cs-'));
  const apiKey = 'compare-bench-api-key-0123456789';
  const port = 18_080;
  const standin = join(dirname(fileURLToPath(import.meta.url)), 'lapi-standin.ts');
  const lapi = spawn(
    'ip',
    ['netns', 'exec', ns, process.execPath, '--import', 'tsx', standin, String(port), String(count), apiKey],
    { stdio: ['pipe', 'pipe', 'inherit'], detached: true },
  );
  const lines = createInterface({ input: lapi.stdout! });
  let listening = false;
  let served = 0;
  lines.on('line', (line) => {
    if (line === 'listening') listening = true;
    if (line.startsWith('served')) served += 1;
  });
  const config = join(dir, 'bouncer.yaml');
  writeFileSync(
    config,
    [
      'mode: nftables',
      `pid_dir: ${dir}`,
      `update_frequency: ${frequency}`,
      'daemonize: false',
      'log_mode: file',
      `log_dir: ${dir}`,
      'log_level: info',
      `api_url: http://127.0.0.1:${port}/`,
      `api_key: ${apiKey}`,
      'insecure_skip_verify: false',
      'disable_ipv6: true',
      'deny_action: DROP',
      'deny_log: false',
      'supported_decisions_types:',
      '  - ban',
      'nftables:',
      '  ipv4:',
      '    enabled: true',
      '    set-only: false',
      '    table: crowdsec',
      '    chain: crowdsec-chain',
      '  ipv6:',
      '    enabled: false',
      'prometheus:',
      '  enabled: false',
      '',
    ].join('\n'),
  );
  let bouncer: ChildProcess | undefined;
  try {
    const ready = Date.now() + 30_000;
    while (!listening) {
      if (Date.now() > ready || !running(lapi)) throw new Error('the Local API stand-in did not start');
      await sleep(50);
    }
    bouncer = spawn('ip', ['netns', 'exec', ns, '/usr/bin/crowdsec-firewall-bouncer', '-c', config], {
      stdio: 'ignore',
      detached: true,
    });
    const up = Date.now() + 30_000;
    while (
      spawnSync('ip', ['netns', 'exec', ns, 'nft', 'list', 'set', 'ip', 'crowdsec', 'crowdsec-blacklists'])
        .status !== 0
    ) {
      if (Date.now() > up || !running(bouncer))
        throw new Error(`crowdsec-firewall-bouncer did not create its set (log: ${dir})`);
      await sleep(100);
    }
    // Past the start-up pull: the decisions arrive with an ordinary poll.
    await sleep(2500);
    const started = performance.now();
    lapi.stdin!.write('arm\n');
    const deadline = started + 120_000;
    for (;;) {
      const seen = setSize(ns, 'crowdsec', 'crowdsec-blacklists', 'ip');
      if (seen >= count) break;
      if (performance.now() > deadline) throw new Error(`bouncer: ${seen} of ${count} after 120 s`);
      await sleep(20);
    }
    const total = performance.now() - started;
    if (served !== 1) throw new Error(`the stand-in served the decisions ${served} times`);
    return { total };
  } finally {
    if (bouncer) await endGroup(bouncer, 'SIGTERM', 10_000);
    lapi.stdin!.write('quit\n');
    await endGroup(lapi, undefined, 5000);
    spawnSync('ip', ['netns', 'exec', ns, 'nft', 'delete', 'table', 'ip', 'crowdsec']);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** lokiban: `count` new bans as 1,000-alert deliveries into a running, reconciled responder. */
async function lokibanRun(host: TestHost, count: number) {
  const dir = mkdtempSync(join(tmpdir(), 'lkb-compare-'));
  const config = parseConfig(
    JSON.stringify({
      store: { sqlite: join(dir, 'lokiban.db') },
      auth: { webhook: { bearer: 'bench-token-0123456789' } },
      defaults: { bantime: '1d', ignoreip: [] },
      // Benchmarks measure throughput: the circuit breaker (docs/decisions.md) is off.
      safety: { maxNewBansPerMinute: 0 },
      jails: { sshd: {} },
      transport: 'ssh',
      hosts: [{ ...host.config, match: {} }],
      enforcement: { reconcileInterval: 3600 },
    }),
    {},
  );
  const store = new SqliteStore(join(dir, 'lokiban.db'));
  await store.init();
  const policy = buildDecisionPolicy(config, { localAddresses: [] });
  const enf = createEnforcement(config, store, logger, { owner: 'compare' });
  try {
    await enf.enforcer.setup(host.config);
    // Counts the distinct addresses in transactions the host's `nft -f` committed (exit 0).
    const unique = new Set<string>();
    let doneAt: number | undefined;
    const apply = enf.enforcer.apply.bind(enf.enforcer);
    enf.enforcer.apply = async (target, batch) => {
      const result = await apply(target, batch);
      for (const element of batch.add) unique.add(element.ip);
      if (doneAt === undefined && unique.size >= count) doneAt = performance.now();
      return result;
    };
    enf.start();
    await enf.reconcile();
    const batches = Array.from({ length: Math.ceil(count / 1000) }, (_, i) =>
      offences(Math.min(1000, count - i * 1000)),
    );
    const started = performance.now();
    for (const batch of batches) {
      await store.recordBatch(batch, policy, 'alertmanager');
      enf.notify([host.config.name]);
    }
    const deadline = started + 120_000;
    while (doneAt === undefined) {
      if (performance.now() > deadline) throw new Error('lokiban: bans not committed in time');
      await new Promise((r) => setTimeout(r, 2));
    }
    const present = host.list(4).length;
    if (present !== count) throw new Error(`lokiban host holds ${present}, expected ${count}`);
    return { total: doneAt - started };
  } finally {
    await enf.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const sorted = (values: number[]) => [...values].sort((a, b) => a - b);
const mmm = (values: number[], fmt: (v: number) => string) => {
  const s = sorted(values);
  return `${fmt(s[0]!)} / ${fmt(s[s.length >> 1]!)} / ${fmt(s.at(-1)!)}`;
};
const ms = (v: number) => v.toFixed(0);
const rate = (count: number) => (values: number[]) => values.map((v) => (count * 1000) / v);
const times = (v: number) => `${v.toFixed(1)}×`;

async function lokibanFresh(host: TestHost, count: number) {
  host.nft(['-f', '-'], nftSetupScript());
  host.nft(['flush', 'set', 'inet', 'lokiban', 'banned4']);
  return lokibanRun(host, count);
}

async function versusFail2ban(reps: number) {
  const counts = (process.env.COMPARE_COUNTS ?? '2000,10000').split(',').map(Number);
  const f2bHost = await createTestHost({ name: 'f2b1' });
  const lkbHost = await createTestHost({ name: 'lkb1' });
  const results = new Map(
    counts.map((n) => [n, { f2b: [] as number[], lkb: [] as number[], ratio: [] as number[] }]),
  );
  try {
    for (let rep = 1; rep <= reps; rep++) {
      for (const count of counts) {
        const load = loadavg();
        const f2b = await fail2banRun(f2bHost, count, 600_000);
        const lkb = await lokibanFresh(lkbHost, count);
        const entry = results.get(count)!;
        entry.f2b.push(f2b.total);
        entry.lkb.push(lkb.total);
        entry.ratio.push(f2b.total / lkb.total);
        console.log(
          `rep ${rep}, ${count} bans (load ${load}): fail2ban ${ms(f2b.total)} ms (${ms((count * 1000) / f2b.total)} bans/s; banip calls returned after ${ms(f2b.given)} ms) | lokiban ${ms(lkb.total)} ms (${ms((count * 1000) / lkb.total)} bans/s) | ratio ${times(f2b.total / lkb.total)}`,
        );
      }
    }
    for (const count of counts) {
      const entry = results.get(count)!;
      console.log(
        `${count} bans: fail2ban ${mmm(entry.f2b, ms)} ms = ${mmm(rate(count)(entry.f2b), ms)} bans/s; lokiban ${mmm(entry.lkb, ms)} ms = ${mmm(rate(count)(entry.lkb), ms)} bans/s; ratio ${mmm(entry.ratio, times)}`,
      );
    }
  } finally {
    await f2bHost.destroy();
    await lkbHost.destroy();
  }
}

async function versusBouncer(reps: number) {
  const count = 10_000;
  const frequency = process.env.COMPARE_BOUNCER_FREQUENCY ?? '1s';
  const csHost = await createTestHost({ name: 'cs1' });
  const lkbHost = await createTestHost({ name: 'lkb2' });
  const cs: number[] = [];
  const lkb: number[] = [];
  const ratio: number[] = [];
  try {
    for (let rep = 1; rep <= reps; rep++) {
      const load = loadavg();
      const bouncer = await bouncerRun(csHost.ns, count, frequency);
      const lokiban = await lokibanFresh(lkbHost, count);
      cs.push(bouncer.total);
      lkb.push(lokiban.total);
      ratio.push(bouncer.total / lokiban.total);
      console.log(
        `rep ${rep}, ${count} decisions (load ${load}): crowdsec-firewall-bouncer (update_frequency ${frequency}) ${ms(bouncer.total)} ms | lokiban ${ms(lokiban.total)} ms | ratio ${times(bouncer.total / lokiban.total)}`,
      );
    }
    console.log(
      `${count} bans: crowdsec-firewall-bouncer (${frequency}) ${mmm(cs, ms)} ms; lokiban ${mmm(lkb, ms)} ms; ratio ${mmm(ratio, times)}`,
    );
  } finally {
    await csHost.destroy();
    await lkbHost.destroy();
  }
}

const reps = Number(process.env.COMPARE_REPS ?? 3);
const only = process.env.COMPARE_ONLY ?? 'all';
console.log(`start ${new Date().toISOString()} load ${loadavg()}`);
if (only === 'all' || only === 'fail2ban') await versusFail2ban(reps);
if (only === 'all' || only === 'crowdsec') await versusBouncer(reps);
console.log(`end ${new Date().toISOString()} load ${loadavg()}`);
