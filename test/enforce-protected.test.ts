import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { buildDecisionPolicy } from '../src/config/policy.js';
import { enforcementSchema } from '../src/config/schema.js';
import { checkGuard } from '../src/domain/guard.js';
import { createEnforcement, type Enforcement } from '../src/enforce/index.js';
import { MemoryOutbox } from './support/memory-outbox.js';
import { createTestHost, type TestHost } from './support/netns.js';

/**
 * Issue 12, item 2: the responder never bans the address it reaches a host from, also when no
 * interface snapshot knew it (gained after start-up, or a source address only the host sees).
 */
describe('the source address of each live SSH connection is protected (namespace sshd)', () => {
  let host: TestHost;
  let enforcement: Enforcement;

  beforeAll(async () => {
    host = await createTestHost({ name: 'web1' });
    enforcement = createEnforcement(
      {
        transport: 'ssh',
        hosts: [host.config],
        enforcement: enforcementSchema.parse({ reconcileInterval: 0 }),
      },
      new MemoryOutbox(),
      pino({ level: 'silent' }),
    );
  });

  afterAll(async () => {
    await enforcement?.stop();
    await host?.destroy();
  });

  it('refuses a ban of the responder’s source address, and of a prefix containing it', async () => {
    const config = parseConfig(
      `auth: { webhook: { bearer: "0123456789abcdef0123" } }\njails: { sshd: {} }\n`,
      {},
    );
    // An interface snapshot without the veth address: as if the responder gained it after start-up.
    const policy = buildDecisionPolicy(config, { interfaces: { read: () => [] } });
    policy.protectedNetworks.track(() => enforcement.localAddresses());
    const source = host.address.replace(/\.2$/, '.1');
    expect(checkGuard(source, 'sshd', policy)).toMatchObject({ allowed: true });

    await enforcement.enforcer.setup(host.config);
    expect(enforcement.localAddresses()).toEqual([source]);
    for (const ip of [source, `${source.replace(/\.\d+\.1$/, '.0.0')}/16`]) {
      const verdict = checkGuard(source, 'sshd', policy, ip);
      expect(verdict, ip).toMatchObject({ allowed: false, outcome: 'ignored-never-ban' });
    }

    // Once the connection is gone the address is an ordinary one again.
    await enforcement.enforcer.close();
    expect(enforcement.localAddresses()).toEqual([]);
    expect(checkGuard(source, 'sshd', policy).allowed).toBe(true);
  });
});
