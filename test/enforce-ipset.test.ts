import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FirewallEnforcer } from '../src/enforce/enforcer.js';
import type { BanElement } from '../src/enforce/port.js';
import { sshTransport } from '../src/enforce/transports/ssh.js';
import { createTestHost, type TestHost } from './support/netns.js';
import { startTcpServer, tcpConnects } from './support/tcp.js';

const el = (ip: string, timeoutSeconds: number | null): BanElement => ({
  ip,
  family: ip.includes(':') ? 6 : 4,
  jail: 'sshd',
  timeoutSeconds,
});

describe('iptables + ipset over SSH on a namespace host', () => {
  let host: TestHost;
  let enforcer: FirewallEnforcer;
  let server: ChildProcess | undefined;
  const config = () => ({ ...host.config, backend: 'ipset' as const });

  beforeAll(async () => {
    host = await createTestHost({ attacker: true, name: 'legacy1' });
    enforcer = new FirewallEnforcer(
      sshTransport({ connectTimeoutMs: 5000, reconnectMinMs: 50, reconnectMaxMs: 200 }),
    );
  });

  afterAll(async () => {
    server?.kill('SIGKILL');
    await enforcer?.close();
    await host?.destroy();
  });

  it('sets up the ipsets and INPUT rules once, however often setup runs', async () => {
    const first = await enforcer.setup(config());
    expect(first.some((line) => line.includes('iptables -w -I INPUT 1'))).toBe(true);
    const second = await enforcer.setup(config());
    expect(second.some((line) => line.includes('-I INPUT'))).toBe(false);
    const rules = host.exec(host.ns, ['iptables', '-S', 'INPUT']);
    expect(rules.match(/--match-set lokiban4 src -j DROP/g)).toHaveLength(1);
    // No Docker here: DOCKER-USER does not exist and is left alone.
    expect(second.some((line) => line.includes('DOCKER-USER'))).toBe(false);
  });

  it('bans with a timeout, extends, unbans (twice), and drops real traffic', async () => {
    const atk = host.attacker!;
    server = await startTcpServer(host.ns, atk.target, 8080);
    await enforcer.apply(config(), { add: [el(atk.banned, 600), el('198.51.100.0/24', null)], remove: [] });
    let present = await enforcer.list(config());
    expect(present.find((e) => e.ip === atk.banned)?.timeoutSeconds).toBeGreaterThan(590);
    expect(present).toContainEqual({ ip: '198.51.100.0/24', family: 4, timeoutSeconds: null });
    expect(tcpConnects(atk.ns, atk.banned, atk.target, 8080)).toBe(false);
    expect(tcpConnects(atk.ns, atk.bystander, atk.target, 8080)).toBe(true);

    await enforcer.apply(config(), { add: [el(atk.banned, 5000)], remove: [] });
    present = await enforcer.list(config());
    expect(present.find((e) => e.ip === atk.banned)?.timeoutSeconds).toBeGreaterThan(4900);

    await enforcer.apply(config(), { add: [], remove: [{ ip: atk.banned, family: 4 }] });
    await enforcer.apply(config(), { add: [], remove: [{ ip: atk.banned, family: 4 }] });
    expect((await enforcer.list(config())).some((e) => e.ip === atk.banned)).toBe(false);
    expect(tcpConnects(atk.ns, atk.banned, atk.target, 8080)).toBe(true);
  });
});
