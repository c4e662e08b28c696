import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type HostConfig, hostSchema } from '../../src/config/schema.js';
import { parseNftListSet } from '../../src/enforce/backends/nftables.js';
import type { PresentElement } from '../../src/enforce/port.js';

/**
 * Test hosts as network namespaces: each has its own nftables and its own sshd, reached only over a
 * veth pair from the root namespace on a private /30 in 10.203.0.0/16. An optional second veth links
 * the host to an "attacker" namespace with two addresses, so drops can be proven with real TCP.
 */

const PREFIX = 'lkb-enf-';

function sh(argv: string[], opts: { input?: string; allowFail?: boolean } = {}): string {
  try {
    return execFileSync(argv[0]!, argv.slice(1), {
      input: opts.input,
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'pipe'],
      // A set of 100,000 elements lists as ~7 MB of JSON.
      maxBuffer: 256 * 1024 * 1024,
    });
  } catch (error) {
    if (opts.allowFail) return '';
    const e = error as { stderr?: string; message: string };
    throw new Error(`${argv.join(' ')} failed: ${e.stderr || e.message}`);
  }
}

/** Kills whatever still runs in namespace `name`, then deletes it; a namespace already gone is fine. */
function removeNamespace(name: string): void {
  sh(['ip', 'netns', 'pids', name], { allowFail: true })
    .split('\n')
    .filter(Boolean)
    .forEach((p) => {
      sh(['kill', '-9', p], { allowFail: true });
    });
  sh(['ip', 'netns', 'del', name], { allowFail: true });
}

/** Namespaces left by an earlier run that died (its pid is gone) are removed, nothing else. */
export function removeStaleNamespaces(): void {
  const names = sh(['ip', 'netns', 'list'], { allowFail: true })
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name.startsWith(PREFIX));
  for (const name of names) {
    const pid = /^lkb-enf-(\d+)-/.exec(name)?.[1];
    if (pid && !existsSync(`/proc/${pid}`)) removeNamespace(name);
  }
}

function usedThirdOctets(): Set<number> {
  const used = new Set<number>();
  for (const match of sh(['ip', '-o', '-4', 'addr'], { allowFail: true }).matchAll(/10\.203\.(\d+)\./g))
    used.add(Number(match[1]));
  return used;
}

const RESERVATIONS = join(tmpdir(), 'lkb-enf-subnets');

/**
 * Reserves a 10.203.x.0/24 for one test host. Test files run in parallel processes, so checking the
 * interfaces is not enough: a reservation file created with O_EXCL is atomic. A reservation whose
 * process is gone is taken over.
 */
function pickSubnet(): { octet: number; release: () => void } {
  mkdirSync(RESERVATIONS, { recursive: true });
  const used = usedThirdOctets();
  for (let tries = 0; tries < 2000; tries++) {
    const octet = Math.floor(Math.random() * 256);
    if (used.has(octet)) continue;
    const file = join(RESERVATIONS, String(octet));
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
    } catch {
      let owner = '';
      try {
        owner = readFileSync(file, 'utf8');
      } catch {}
      if (!owner || existsSync(`/proc/${owner}`)) continue;
      writeFileSync(file, String(process.pid));
    }
    return { octet, release: () => rmSync(file, { force: true }) };
  }
  throw new Error('no free 10.203.x.0/24 for test hosts');
}

let counter = 0;

// Above the kernel's metric for a connected route (0), so the veth's route wins while it exists.
const SAFETY_METRIC = 4242;

/**
 * The check before any connection to a test host: its namespace exists, its veth exists in the root
 * namespace, and the kernel routes `address` out through that veth (not through a default route).
 */
export function assertRoutedThrough(ns: string, veth: string, address: string): void {
  const namespaces = sh(['ip', 'netns', 'list'], { allowFail: true })
    .split('\n')
    .map((line) => line.split(' ')[0]);
  if (!namespaces.includes(ns)) throw new Error(`test host namespace ${ns} does not exist`);
  if (!sh(['ip', '-o', 'link', 'show', 'dev', veth], { allowFail: true }).includes(veth))
    throw new Error(`test host veth ${veth} does not exist`);
  const route = sh(['ip', 'route', 'get', address]);
  if (!new RegExp(`\\bdev ${veth}\\b`).test(route))
    throw new Error(`${address} does not route through ${veth}: ${route.trim()}`);
}

export interface TestHost {
  ns: string;
  config: HostConfig;
  /** Address of the host inside its namespace (sshd listens here). */
  address: string;
  /** The attacker namespace and its two addresses (when requested). */
  attacker?: { ns: string; banned: string; bystander: string; target: string };
  hostKeyFingerprint: string;
  clientKey: string;
  /** Throws unless the namespace and veth exist and the host's address routes through the veth. */
  assertRoutable(): void;
  nft(args: string[], input?: string): string;
  list(family?: 4 | 6): PresentElement[];
  startSshd(): Promise<void>;
  stopSshd(): Promise<void>;
  linkDown(): void;
  linkUp(): void;
  /** Run a command inside a namespace (for TCP probes). */
  exec(ns: string, argv: string[]): string;
  destroy(): Promise<void>;
}

async function waitForPort(ns: string, address: string, port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const out = sh(['ip', 'netns', 'exec', ns, 'ss', '-Hltn', `src ${address}:${port}`], { allowFail: true });
    if (out.includes(`${address}:${port}`)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`sshd in ${ns} did not listen on ${address}:${port}`);
}

export async function createTestHost(opts: { attacker?: boolean; name?: string } = {}): Promise<TestHost> {
  removeStaleNamespaces();
  const id = counter++;
  const ns = `${PREFIX}${process.pid}-${id}`;
  // Interface names are limited to 15 characters.
  const short = `le${process.pid % 100000}${id}`;
  const vethRoot = `${short}r`;
  const vethHost = `${short}h`;
  const { octet, release } = pickSubnet();
  const rootAddr = `10.203.${octet}.1`;
  const address = `10.203.${octet}.2`;
  const dir = mkdtempSync(join(tmpdir(), 'lkb-enf-host-'));
  let sshd: ChildProcess | undefined;
  const namespaces = [ns];

  const subnet = `10.203.${octet}.0/24`;
  const cleanup = () => {
    if (sshd && sshd.exitCode === null) sshd.kill('SIGKILL');
    for (const name of namespaces) removeNamespace(name);
    sh(['ip', 'link', 'del', vethRoot], { allowFail: true });
    // Last: until the namespace and its veth are gone, a late connection attempt still hits this.
    sh(['ip', 'route', 'del', 'unreachable', subnet, 'metric', String(SAFETY_METRIC)], { allowFail: true });
    rmSync(dir, { recursive: true, force: true });
    release();
  };
  process.once('exit', cleanup);

  try {
    // A test host's addresses must never route out of the machine, also while its veth is down or
    // after its namespace is gone: a catch-all behind the veth's own route refuses them locally.
    sh(['ip', 'route', 'replace', 'unreachable', subnet, 'metric', String(SAFETY_METRIC)]);
    sh(['ip', 'netns', 'add', ns]);
    sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
    sh(['ip', 'link', 'add', vethRoot, 'type', 'veth', 'peer', 'name', vethHost, 'netns', ns]);
    sh(['ip', 'addr', 'add', `${rootAddr}/30`, 'dev', vethRoot]);
    sh(['ip', 'link', 'set', vethRoot, 'up']);
    sh(['ip', '-n', ns, 'addr', 'add', `${address}/30`, 'dev', vethHost]);
    sh(['ip', '-n', ns, 'link', 'set', vethHost, 'up']);

    let attacker: TestHost['attacker'];
    if (opts.attacker) {
      const atk = `${ns}-a`;
      namespaces.push(atk);
      sh(['ip', 'netns', 'add', atk]);
      sh(['ip', '-n', atk, 'link', 'set', 'lo', 'up']);
      sh([
        'ip',
        '-n',
        ns,
        'link',
        'add',
        `${short}t`,
        'type',
        'veth',
        'peer',
        'name',
        `${short}a`,
        'netns',
        atk,
      ]);
      const target = `10.203.${octet}.9`;
      sh(['ip', '-n', ns, 'addr', 'add', `${target}/29`, 'dev', `${short}t`]);
      sh(['ip', '-n', ns, 'link', 'set', `${short}t`, 'up']);
      const banned = `10.203.${octet}.10`;
      const bystander = `10.203.${octet}.11`;
      sh(['ip', '-n', atk, 'addr', 'add', `${banned}/29`, 'dev', `${short}a`]);
      sh(['ip', '-n', atk, 'addr', 'add', `${bystander}/29`, 'dev', `${short}a`]);
      sh(['ip', '-n', atk, 'link', 'set', `${short}a`, 'up']);
      attacker = { ns: atk, banned, bystander, target };
    }

    const hostKey = join(dir, 'ssh_host_ed25519_key');
    const clientKey = join(dir, 'client_ed25519');
    sh(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
    sh(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', clientKey]);
    const fingerprint = sh(['ssh-keygen', '-lf', `${hostKey}.pub`]).split(' ')[1]!;
    writeFileSync(join(dir, 'authorized_keys'), sh(['cat', `${clientKey}.pub`]), { mode: 0o600 });
    mkdirSync('/run/sshd', { recursive: true });
    const sshdConfig = join(dir, 'sshd_config');
    writeFileSync(
      sshdConfig,
      [
        `ListenAddress ${address}`,
        'Port 22',
        `HostKey ${hostKey}`,
        `PidFile ${join(dir, 'sshd.pid')}`,
        `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
        'PermitRootLogin prohibit-password',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'StrictModes no',
        'MaxSessions 100',
        'MaxStartups 100:30:200',
        'LogLevel ERROR',
        // Sessions run the login shell; a HOME of their own keeps the machine's shell start-up files
        // (and whatever they hook in) out of the test hosts.
        `SetEnv HOME=${dir}`,
        '',
      ].join('\n'),
    );

    const startSshd = async () => {
      sshd = spawn('ip', ['netns', 'exec', ns, '/usr/sbin/sshd', '-D', '-e', '-f', sshdConfig], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      await waitForPort(ns, address, 22);
    };
    const stopSshd = async () => {
      if (!sshd || sshd.exitCode !== null) return;
      const exited = new Promise((r) => sshd!.once('exit', r));
      sshd.kill('SIGKILL');
      await exited;
      // Kill the per-connection children too, so open sessions really end.
      sh(['ip', 'netns', 'pids', ns], { allowFail: true })
        .split('\n')
        .filter(Boolean)
        .forEach((p) => {
          sh(['kill', '-9', p], { allowFail: true });
        });
    };
    await startSshd();
    assertRoutedThrough(ns, vethRoot, address);

    const config = hostSchema.parse({
      name: opts.name ?? `h${id}`,
      address,
      port: 22,
      user: 'root',
      privateKey: clientKey,
      hostKey: fingerprint,
    });

    const nft = (args: string[], input?: string) =>
      sh(['ip', 'netns', 'exec', ns, 'nft', ...args], input === undefined ? {} : { input });
    return {
      ns,
      config,
      address,
      attacker,
      hostKeyFingerprint: fingerprint,
      clientKey,
      assertRoutable: () => assertRoutedThrough(ns, vethRoot, address),
      nft,
      list: (family) =>
        ([4, 6] as const)
          .filter((f) => family === undefined || f === family)
          .flatMap((f) => [`banned${f}`, `banned${f}net`])
          .flatMap((set) => parseNftListSet(nft(['-j', 'list', 'set', 'inet', 'lokiban', set]))),
      startSshd,
      stopSshd,
      linkDown: () => sh(['ip', 'link', 'set', vethRoot, 'down']),
      linkUp: () => sh(['ip', 'link', 'set', vethRoot, 'up']),
      exec: (target, argv) => sh(['ip', 'netns', 'exec', target, ...argv]),
      destroy: async () => {
        await stopSshd();
        cleanup();
        process.removeListener('exit', cleanup);
      },
    };
  } catch (error) {
    cleanup();
    process.removeListener('exit', cleanup);
    throw error;
  }
}
