import { describe, expect, it } from 'vitest';
import { ipSortKey, parseFilter } from './rows';

describe('ipSortKey', () => {
  it('orders IPv4 numerically, then IPv6 with :: expanded', () => {
    const ips = ['2001:db8::10', '10.0.0.10', '2001:db8:0:0:0:0:0:9', '10.0.0.9', '9.255.0.1', '::1'];
    expect([...ips].sort((a, b) => (ipSortKey(a) < ipSortKey(b) ? -1 : 1))).toEqual([
      '9.255.0.1',
      '10.0.0.9',
      '10.0.0.10',
      '::1',
      '2001:db8:0:0:0:0:0:9',
      '2001:db8::10',
    ]);
  });
});

describe('parseFilter', () => {
  it('splits jail:, host: and free-text terms, case-insensitively', () => {
    expect(parseFilter(' Jail:SSHD host:web1  203.0.113 jail: ')).toEqual({
      jail: ['sshd'],
      host: ['web1'],
      text: ['203.0.113', 'jail:'],
    });
  });
});
