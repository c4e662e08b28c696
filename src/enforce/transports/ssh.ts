import { readFileSync } from 'node:fs';
import { type Socket, connect as tcpConnect } from 'node:net';
import { NodeSSH } from 'node-ssh';
import type { HostConfig } from '../../config/schema.js';
import { backoffDelay } from '../../lib/backoff.js';
import { type Command, type CommandOutput, shellQuote } from '../command.js';
import {
  fingerprintOf,
  HostKeyMismatchError,
  type HostKeyPin,
  hostKeyAlgorithms,
  keyTypeOf,
  parseHostKeyPin,
} from '../host-key.js';
import { type Transport, TransportError } from './transport.js';

export interface SshOptions {
  connectTimeoutMs: number;
  /** Reconnect backoff: first delay and cap, doubled per failure, with ±50 % jitter. */
  reconnectMinMs: number;
  reconnectMaxMs: number;
  random?: () => number;
  now?: () => number;
}

interface HostConnection {
  ssh?: NodeSSH;
  /** Local address of the live connection; never bannable while the connection lives. */
  localAddress?: string;
  connecting?: Promise<NodeSSH>;
  failures: number;
  retryAt: number;
  lastError?: Error;
}

/** A TCP connection opened by lokiban itself, so its local address is known (ssh2 hides its socket). */
function openSocket(host: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/**
 * One kept-alive SSH connection per host. The host key must match the pinned one; a missing pin or
 * a mismatch is refused before any command is sent. Commands travel as argv quoted word by word for
 * the remote shell (the SSH protocol carries a command line), with data on stdin.
 */
export function sshTransport(options: SshOptions): Transport {
  const random = options.random ?? Math.random;
  const now = options.now ?? Date.now;
  const connections = new Map<string, HostConnection>();

  const state = (host: HostConfig): HostConnection => {
    let entry = connections.get(host.name);
    if (!entry) {
      entry = { failures: 0, retryAt: 0 };
      connections.set(host.name, entry);
    }
    return entry;
  };

  async function connect(host: HostConfig, entry: HostConnection): Promise<NodeSSH> {
    if (!host.hostKey) {
      throw new TransportError(
        `host "${host.name}": no pinned hostKey; refusing to connect to an unverified host ` +
          `(get it with: ssh-keyscan -p ${host.port} ${host.address} | ssh-keygen -lf -)`,
      );
    }
    const pin: HostKeyPin = parseHostKeyPin(host.hostKey);
    let mismatch: HostKeyMismatchError | undefined;
    const ssh = new NodeSSH();
    let socket: Socket | undefined;
    try {
      socket = await openSocket(
        host.address.replace(/^\[(.*)\]$/, '$1'),
        host.port,
        options.connectTimeoutMs,
      );
      // Protected from the moment the connection exists: a ban decided during the handshake is refused too.
      entry.localAddress = socket.localAddress;
      await ssh.connect({
        sock: socket,
        host: host.address,
        port: host.port,
        username: host.user,
        ...(host.privateKey ? { privateKey: readFileSync(host.privateKey, 'utf8') } : {}),
        ...(host.agent ? { agent: host.agent } : {}),
        readyTimeout: options.connectTimeoutMs,
        keepaliveInterval: 15_000,
        keepaliveCountMax: 3,
        algorithms: { serverHostKey: hostKeyAlgorithms(pin) as never },
        hostVerifier: (key: Buffer) => {
          const presented = fingerprintOf(key);
          if (presented === pin.fingerprint) return true;
          mismatch = new HostKeyMismatchError(host.name, pin.fingerprint, presented, keyTypeOf(key));
          return false;
        },
      });
    } catch (error) {
      ssh.dispose();
      socket?.destroy();
      entry.localAddress = undefined;
      if (mismatch) throw mismatch;
      throw new TransportError(
        `host "${host.name}": cannot connect to ${host.user}@${host.address}:${host.port}: ${(error as Error).message}`,
      );
    }
    // Commands and their replies are small packets: without TCP_NODELAY, Nagle's algorithm meets the
    // peer's delayed ACK and every command waits ~40 ms.
    ssh.connection?.setNoDelay(true);
    // A dropped connection is noticed here, so the next command reconnects instead of failing forever.
    ssh.connection?.on('close', () => {
      if (entry.ssh === ssh) {
        entry.ssh = undefined;
        entry.localAddress = undefined;
      }
    });
    ssh.connection?.on('error', () => {
      if (entry.ssh === ssh) entry.ssh = undefined;
    });
    return ssh;
  }

  async function connection(host: HostConfig): Promise<NodeSSH> {
    const entry = state(host);
    if (entry.ssh?.isConnected()) return entry.ssh;
    if (entry.connecting) return entry.connecting;
    if (now() < entry.retryAt) {
      // A refused key is the one error an operator must see verbatim, not as "unreachable".
      if (entry.lastError instanceof HostKeyMismatchError) throw entry.lastError;
      throw new TransportError(
        `host "${host.name}": unreachable, next connection attempt in ${Math.ceil((entry.retryAt - now()) / 1000)} s` +
          (entry.lastError ? ` (last error: ${entry.lastError.message})` : ''),
      );
    }
    entry.connecting = connect(host, entry)
      .then((ssh) => {
        entry.ssh = ssh;
        entry.failures = 0;
        entry.retryAt = 0;
        entry.lastError = undefined;
        return ssh;
      })
      .catch((error: Error) => {
        entry.failures += 1;
        entry.lastError = error;
        // A wrong host key will not fix itself quickly: back off fully, but keep trying so a corrected
        // pin or restored key is picked up.
        entry.retryAt =
          now() + backoffDelay(entry.failures, options.reconnectMinMs, options.reconnectMaxMs, random);
        throw error;
      })
      .finally(() => {
        entry.connecting = undefined;
      });
    return entry.connecting;
  }

  function drop(host: HostConfig): void {
    const entry = connections.get(host.name);
    if (entry?.ssh) {
      entry.ssh.dispose();
      entry.ssh = undefined;
    }
  }

  return {
    name: 'ssh',
    canRead: true,
    async run(host: HostConfig, command: Command, timeoutMs: number): Promise<CommandOutput> {
      const ssh = await connection(host);
      const line = command.argv.map(shellQuote).join(' ');
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          drop(host);
          reject(
            new TransportError(`host "${host.name}": ${command.argv[0]} timed out after ${timeoutMs} ms`),
          );
        }, timeoutMs);
      });
      try {
        const result = await Promise.race([
          ssh.execCommand(line, { stdin: command.stdin ?? '', noTrim: true }),
          timeout,
        ]);
        return { stdout: result.stdout, stderr: result.stderr, code: result.code ?? 255 };
      } catch (error) {
        if (error instanceof TransportError) throw error;
        drop(host);
        throw new TransportError(`host "${host.name}": ${(error as Error).message}`);
      } finally {
        clearTimeout(timer);
      }
    },
    reset: drop,
    localAddresses() {
      return [...connections.values()].flatMap((entry) => (entry.localAddress ? [entry.localAddress] : []));
    },
    async close() {
      for (const entry of connections.values()) entry.ssh?.dispose();
      connections.clear();
    },
  };
}
