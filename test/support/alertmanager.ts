import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './port.js';

/** Debian's prometheus-alertmanager, as the apt package installs it. */
export const ALERTMANAGER = '/usr/bin/prometheus-alertmanager';

export interface AlertmanagerOptions {
  /** Holds the config file and Alertmanager's storage; the caller removes it. */
  dir: string;
  /** The responder's webhook URL. */
  webhookUrl: string;
  /** Bearer credentials Alertmanager sends to the webhook. */
  webhookToken: string;
  /** How soon a still-firing group is notified again, e.g. `2s`. */
  repeatInterval: string;
  /** Whether resolved alerts are delivered too. */
  sendResolved: boolean;
}

export interface RunningAlertmanager {
  /** Base URL of its HTTP API on 127.0.0.1. */
  url: string;
  process: ChildProcess;
  /** Stops it with SIGTERM and waits for the exit; a no-op once it has exited. */
  stop(): Promise<void>;
}

/**
 * Starts a real Alertmanager on a free loopback port that routes every alert, grouped by ip and jail
 * and sent at once, to one webhook receiver; resolves once it reports ready.
 */
export async function startAlertmanager(options: AlertmanagerOptions): Promise<RunningAlertmanager> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const configFile = join(options.dir, 'alertmanager.yml');
  writeFileSync(
    configFile,
    [
      'route:',
      '  receiver: lokiban',
      '  group_by: [ip, jail]',
      '  group_wait: 0s',
      '  group_interval: 1s',
      `  repeat_interval: ${options.repeatInterval}`,
      'receivers:',
      '  - name: lokiban',
      '    webhook_configs:',
      `      - url: ${options.webhookUrl}`,
      ...(options.sendResolved ? ['        send_resolved: true'] : []),
      '        http_config:',
      '          authorization:',
      `            credentials: ${options.webhookToken}`,
      '',
    ].join('\n'),
  );
  const child = spawn(
    ALERTMANAGER,
    [
      `--config.file=${configFile}`,
      `--storage.path=${join(options.dir, 'am-data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--cluster.listen-address=',
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'ignore'] },
  );
  const running: RunningAlertmanager = {
    url,
    process: child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
  const deadline = Date.now() + 20_000;
  while (
    !(await fetch(`${url}/-/ready`).then(
      (response) => response.ok,
      () => false,
    ))
  ) {
    if (Date.now() > deadline) {
      await running.stop();
      throw new Error('timed out waiting for alertmanager');
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return running;
}
