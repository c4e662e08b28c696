import { execFile } from 'node:child_process';
import { chownSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './port.js';

const run = promisify(execFile);

function binDir(): string {
  const versions = readdirSync('/usr/lib/postgresql')
    .filter((name) => /^\d+$/.test(name))
    .sort((a, b) => Number(a) - Number(b));
  const newest = versions.at(-1);
  if (!newest) throw new Error('no PostgreSQL server under /usr/lib/postgresql (apt install postgresql)');
  return `/usr/lib/postgresql/${newest}/bin`;
}

/**
 * A private PostgreSQL cluster in a temp dir on its own port, for tests that stop and start the
 * server: the shared cluster other suites use stays up. Postgres refuses to run as root, so as root
 * the cluster belongs to the `postgres` user.
 */
export class TempCluster {
  readonly dir: string;
  readonly port: number;
  private readonly bin = binDir();
  private readonly asPostgres = process.getuid?.() === 0;

  private constructor(dir: string, port: number) {
    this.dir = dir;
    this.port = port;
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  static async create(): Promise<TempCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'lkb-pg-cluster-'));
    const cluster = new TempCluster(dir, await freePort());
    if (cluster.asPostgres) {
      const { stdout } = await run('id', ['-u', 'postgres']);
      const { stdout: gid } = await run('id', ['-g', 'postgres']);
      chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
    }
    await cluster.exec('initdb', ['-D', join(dir, 'data'), '-A', 'trust', '-U', 'postgres', '--no-sync']);
    await cluster.start();
    return cluster;
  }

  private async exec(tool: string, args: string[]): Promise<void> {
    const file = join(this.bin, tool);
    if (this.asPostgres) await run('runuser', ['-u', 'postgres', '--', file, ...args]);
    else await run(file, args);
  }

  async start(): Promise<void> {
    const options = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`;
    await this.exec('pg_ctl', [
      '-D',
      join(this.dir, 'data'),
      '-l',
      join(this.dir, 'log'),
      '-w',
      '-o',
      options,
      'start',
    ]);
  }

  /** `immediate` is a crash: no checkpoint, clients cut off; committed work must survive it. */
  async stop(mode: 'fast' | 'immediate' = 'immediate'): Promise<void> {
    await this.exec('pg_ctl', ['-D', join(this.dir, 'data'), '-m', mode, '-w', 'stop']);
  }

  async isRunning(): Promise<boolean> {
    const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 1000 });
    try {
      await client.connect();
      await client.end();
      return true;
    } catch {
      return false;
    }
  }

  async destroy(): Promise<void> {
    if (await this.isRunning()) await this.stop('immediate').catch(() => {});
    rmSync(this.dir, { recursive: true, force: true });
  }
}
