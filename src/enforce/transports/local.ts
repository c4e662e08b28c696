import { spawn } from 'node:child_process';
import type { HostConfig } from '../../config/schema.js';
import type { Command, CommandOutput } from '../command.js';
import { type Transport, TransportError } from './transport.js';

/** Runs a command on this machine: spawn without a shell, stdin written, output collected. */
export function runLocal(command: Command, timeoutMs: number): Promise<CommandOutput> {
  return new Promise((resolve, reject) => {
    const [program, ...args] = command.argv;
    if (!program) {
      reject(new TransportError('empty command'));
      return;
    }
    const child = spawn(program, args, { shell: false, stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new TransportError(`${program} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new TransportError(`cannot run ${program}: ${error.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
        code: code ?? (signal ? 128 : 1),
      });
    });
    // A command that exits before reading stdin closes the pipe; its exit status tells what happened.
    child.stdin.on('error', () => {});
    child.stdin.end(command.stdin ?? '');
  });
}

export function localTransport(): Transport {
  return {
    name: 'local',
    canRead: true,
    run: (_host: HostConfig, command, timeoutMs) => runLocal(command, timeoutMs),
    reset: () => {},
    close: async () => {},
  };
}
