import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../../src/config/load.js';
import type { DecisionPolicy } from '../../src/domain/policy.js';
import type { EnforcementStatus } from '../../src/enforce/port.js';
import { type AppStore, buildApp } from '../../src/http/app.js';
import { loggerOptions } from '../../src/http/logger.js';

/** Collects the app's JSON log lines so tests can check what is (not) logged. */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _encoding: string, callback: () => void): void {
    this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    callback();
  }
  get text(): string {
    return this.lines.join('\n');
  }
}

export interface TestApp {
  app: FastifyInstance;
  logs: LogCapture;
  changes: string[][];
}

export async function buildTestApp(options: {
  config: Config;
  store: AppStore;
  policy: DecisionPolicy;
  enforcement?: EnforcementStatus;
  now?: () => number;
  jailPipelines?: Readonly<Record<string, readonly string[]>>;
}): Promise<TestApp> {
  const logs = new LogCapture();
  const changes: string[][] = [];
  const app = await buildApp(
    { ...options, onChange: (hosts) => changes.push(hosts) },
    { logger: { ...loggerOptions({ logging: { level: 'debug' } }), stream: logs } },
  );
  return { app, logs, changes };
}
