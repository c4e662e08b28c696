import { type ChildProcess, spawn, spawnSync } from 'node:child_process';

/** A TCP server inside a namespace that answers "ok" to every connection. */
export async function startTcpServer(ns: string, address: string, port: number): Promise<ChildProcess> {
  const child = spawn(
    'ip',
    [
      'netns',
      'exec',
      ns,
      process.execPath,
      '-e',
      `require('node:net').createServer((s) => s.end('ok')).listen(${port}, ${JSON.stringify(address)}, () => console.log('listening'))`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`tcp server exited with ${code}`)));
  });
  return child;
}

/** Connects from `localAddress` inside `ns`; true when the server answered within the timeout. */
export function tcpConnects(
  ns: string,
  localAddress: string,
  host: string,
  port: number,
  timeoutMs = 1000,
): boolean {
  const script = `
    const s = require('node:net').connect({ host: ${JSON.stringify(host)}, port: ${port}, localAddress: ${JSON.stringify(localAddress)} });
    s.setTimeout(${timeoutMs}, () => process.exit(2));
    s.on('data', (d) => process.exit(String(d) === 'ok' ? 0 : 3));
    s.on('error', () => process.exit(4));`;
  const result = spawnSync('ip', ['netns', 'exec', ns, process.execPath, '-e', script], {
    timeout: timeoutMs + 5000,
  });
  return result.status === 0;
}
