import { describe, expect, it } from 'vitest';
import { hostSchema } from '../config/schema.js';
import type { Command } from './command.js';
import { FirewallEnforcer } from './enforcer.js';
import { parseHostKeyPin } from './host-key.js';
import { runLocal } from './transports/local.js';
import type { Transport } from './transports/transport.js';

function recording(name: Transport['name'], reply: (c: Command) => { stdout: string; code: number }) {
  const sent: Command[] = [];
  const transport: Transport = {
    name,
    canRead: true,
    run: async (_host, command) => {
      sent.push(command);
      return { ...reply(command), stderr: reply(command).code === 0 ? '' : 'Error: boom\nsecond line' };
    },
    reset: () => {},
    close: async () => {},
  };
  return { sent, transport };
}

const host = hostSchema.parse({ name: 'web1', address: '192.0.2.10', user: 'lokiban' });

describe('FirewallEnforcer', () => {
  it('runs every command through sudo -n for a non-root login, and checks exit status and stderr', async () => {
    const { sent, transport } = recording('ssh', (c) => ({
      stdout: '',
      code: c.argv.includes('nft') ? 0 : 1,
    }));
    const enforcer = new FirewallEnforcer(transport);
    await enforcer.apply(host, {
      add: [{ ip: '203.0.113.7', family: 4, jail: 'sshd', timeoutSeconds: 60 }],
      remove: [],
    });
    expect(sent[0]?.argv).toEqual(['sudo', '-n', '--', 'nft', '-f', '-']);
    expect(sent[0]?.stdin).toContain('203.0.113.7 timeout 60s');

    const root = new FirewallEnforcer(recording('ssh', () => ({ stdout: '', code: 0 })).transport);
    expect(root.privileged({ ...host, user: 'root' }, { argv: ['nft'] }).argv).toEqual(['nft']);
    expect(root.privileged({ ...host, sudo: false }, { argv: ['nft'] }).argv).toEqual(['nft']);

    const failing = new FirewallEnforcer(recording('ssh', () => ({ stdout: '', code: 1 })).transport);
    await expect(
      failing.apply(host, {
        add: [{ ip: '203.0.113.7', family: 4, jail: 'sshd', timeoutSeconds: 60 }],
        remove: [],
      }),
    ).rejects.toThrow('host "web1": nft exited with 1: Error: boom | second line');
  });

  it('setup --dry-run shows the privileged commands and runs nothing', async () => {
    const { sent, transport } = recording('ssh', () => ({ stdout: '', code: 0 }));
    const lines = await new FirewallEnforcer(transport).setup(
      { ...host, backend: 'ipset' },
      { dryRun: true },
    );
    expect(sent).toEqual([]);
    expect(lines).toContain(
      'unless sudo -n -- iptables -w -C INPUT -m set --match-set lokiban4 src -j DROP succeeds: sudo -n -- iptables -w -I INPUT 1 -m set --match-set lokiban4 src -j DROP',
    );
  });
});

describe('local transport', () => {
  it('spawns without a shell and feeds stdin', async () => {
    const echoed = await runLocal({ argv: ['printf', '%s', '1.2.3.4; echo injected'] }, 5000);
    expect(echoed).toEqual({ stdout: '1.2.3.4; echo injected', stderr: '', code: 0 });
    expect((await runLocal({ argv: ['cat'], stdin: 'add element …\n' }, 5000)).stdout).toBe(
      'add element …\n',
    );
    expect((await runLocal({ argv: ['false'] }, 5000)).code).toBe(1);
    await expect(runLocal({ argv: ['/nonexistent/nft'] }, 5000)).rejects.toThrow(
      /cannot run \/nonexistent\/nft/,
    );
    await expect(runLocal({ argv: ['sleep', '5'] }, 100)).rejects.toThrow(/timed out/);
  });
});

describe('host key pins', () => {
  it('accepts fingerprints and known_hosts lines, and rejects a line whose key data is not its type', () => {
    expect(parseHostKeyPin('SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU')).toEqual({
      fingerprint: 'SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU',
    });
    // ssh-ed25519 key blob: string "ssh-ed25519" + 32-byte key.
    const blob = Buffer.concat([
      Buffer.from([0, 0, 0, 11]),
      Buffer.from('ssh-ed25519'),
      Buffer.from([0, 0, 0, 32]),
      Buffer.alloc(32, 7),
    ]).toString('base64');
    const pin = parseHostKeyPin(`web1.example.net ssh-ed25519 ${blob} comment`);
    expect(pin.type).toBe('ssh-ed25519');
    expect(pin.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(() => parseHostKeyPin(`web1 ssh-rsa ${blob}`)).toThrow(/not a ssh-rsa key/);
    expect(() => parseHostKeyPin('yes')).toThrow(/fingerprint or a known_hosts line/);
    // A revoked key or a CA line must never become the trusted pin.
    expect(() => parseHostKeyPin(`@revoked web1 ssh-ed25519 ${blob}`)).toThrow(
      /@revoked .* never be trusted/,
    );
    expect(() => parseHostKeyPin(`@cert-authority *.example.net ssh-ed25519 ${blob}`)).toThrow(
      /@cert-authority .* not supported/,
    );
  });
});
