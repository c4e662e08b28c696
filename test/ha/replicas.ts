import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { Offence } from '../../src/domain/types.js';
import type { Delivery, ReplicaReply, ReplicaRequest } from './store-replica.js';

const SCRIPT = fileURLToPath(new URL('./store-replica.ts', import.meta.url));

/** A forked replica process (see store-replica.ts) and a typed request/reply channel to it. */
export class Replica {
  private nextId = 1;
  private readonly waiting = new Map<number, (reply: ReplicaReply) => void>();
  readonly leaseEvents: Array<{ held: boolean; at: number }> = [];

  private constructor(readonly child: ChildProcess) {
    child.on('message', (reply: ReplicaReply) => {
      if (reply.type === 'lease') this.leaseEvents.push({ held: reply.held, at: Date.now() });
      if ('id' in reply) {
        this.waiting.get(reply.id)?.(reply);
        this.waiting.delete(reply.id);
      }
    });
  }

  static async start(url: string, env: Record<string, string> = {}): Promise<Replica> {
    const child = fork(SCRIPT, [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, ...env, LKB_HA_URL: url },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const replica = new Replica(child);
    const [reply] = (await Promise.race([
      once(child, 'message'),
      once(child, 'exit').then(([code]) => {
        throw new Error(`replica exited with ${code} before it was ready`);
      }),
    ])) as [ReplicaReply];
    if (reply.type !== 'ready') throw new Error(`replica sent ${reply.type} before ready`);
    return replica;
  }

  get pid(): number {
    return this.child.pid!;
  }

  private request<R extends ReplicaReply>(message: Omit<ReplicaRequest, 'id'> & { id?: number }): Promise<R> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, resolve as (reply: ReplicaReply) => void);
      this.child.once('exit', () => reject(new Error(`replica ${this.pid} exited during ${message.type}`)));
      this.child.send({ ...message, id });
    });
  }

  async deliver(offences: Offence[], opts: { now?: number; concurrency?: number } = {}): Promise<Delivery[]> {
    const reply = await this.request<Extract<ReplicaReply, { type: 'delivered' }>>({
      type: 'deliver',
      offences,
      now: opts.now,
      concurrency: opts.concurrency ?? 8,
    } as ReplicaRequest);
    return reply.results;
  }

  ping(): Promise<Extract<ReplicaReply, { type: 'pinged' }>> {
    return this.request({ type: 'ping' } as ReplicaRequest);
  }

  dispatch(opts: { leaseTtlMs: number; batch: number; applyMs: number; log: string }): void {
    this.child.send({ type: 'dispatch', ...opts } satisfies ReplicaRequest);
  }

  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.kill('SIGKILL');
    await exited;
  }

  /** Graceful stop: the replica closes its pool when the IPC channel goes away. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.disconnect();
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
    await this.kill();
  }
}
