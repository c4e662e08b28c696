import { parser } from '@grafana/lezer-logql';
import { RE2JS } from 're2js';
import { describe, expect, it } from 'vitest';
import { addressPattern, exploreUrl, logsQuery } from './logs-link';

/** Loki runs RE2: check the patterns with an RE2 implementation, not JavaScript's engine. */
const matches = (pattern: string, line: string) => RE2JS.compile(pattern).matcher(line).find();

/** Grafana's own LogQL grammar: an expression Explore cannot parse is a broken link. */
function parses(expr: string): boolean {
  let ok = true;
  parser.parse(expr).iterate({
    enter(node) {
      if (node.type.isError) ok = false;
    },
  });
  return ok;
}

const BAN = {
  ip: '203.0.113.7',
  jail: 'sshd',
  createdAt: Date.parse('2026-11-27T08:00:00Z'),
  updatedAt: Date.parse('2026-11-27T08:04:00Z'),
};

describe('logs link', () => {
  it('narrows the jail’s published query to the address with Loki’s ip() filter', () => {
    const query = logsQuery(
      BAN,
      {
        name: 'sshd',
        findtime: 600,
        logql: '{job="sshd"} |= `Failed` | regexp `(?P<src>[0-9.]+)`',
        ipLabel: 'src',
      },
      '{job=~".+"}',
    );
    expect(query.expr).toBe('{job="sshd"} |= `Failed` | regexp `(?P<src>[0-9.]+)` | src = ip("203.0.113.7")');
    expect(parses(query.expr)).toBe(true);
    // From findtime before the ban to a minute after the last offence it absorbed.
    expect(query.from).toBe(BAN.createdAt - 600_000);
    expect(query.to).toBe(BAN.updatedAt + 60_000);
  });

  it('opens one Explore query per rule of a jail split into several rules', () => {
    const parts = [
      '{job="sshd"} |= `Failed` | regexp `from (?P<ip>[0-9.]+) port`',
      '{job="sshd"} |= `Invalid` | regexp `user \\S+ from (?P<ip>[0-9.]+)$`',
    ];
    const query = logsQuery(
      BAN,
      { name: 'sshd', findtime: 600, logqlParts: parts, ipLabel: 'ip' },
      '{job=~".+"}',
    );
    expect(query.exprs).toEqual(parts.map((part) => `${part} | ip = ip("203.0.113.7")`));
    expect(query.exprs.every(parses)).toBe(true);
    const url = new URL(exploreUrl({ uid: 'loki', type: 'loki' }, query, 1), 'http://grafana/');
    const pane = JSON.parse(url.searchParams.get('panes')!).lokiban;
    expect(pane.queries.map((q: { refId: string; expr: string }) => [q.refId, q.expr])).toEqual([
      ['A', query.exprs[0]],
      ['B', query.exprs[1]],
    ]);
  });

  it('falls back to the panel’s selector and a line filter for the address', () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the placeholder under test.
    const query = logsQuery({ ...BAN, ip: '2001:db8:1234::/64' }, undefined, '{jail="${jail}"}');
    expect(query.expr.startsWith('{jail="sshd"} |~ `')).toBe(true);
    expect(parses(query.expr)).toBe(true);
    expect(query.from).toBe(BAN.createdAt - 600_000);
  });

  it('matches the address and not a longer number around it', () => {
    const pattern = addressPattern('10.0.0.1');
    expect(matches(pattern, 'Failed password for root from 10.0.0.1 port 22 ssh2')).toBe(true);
    expect(matches(pattern, '10.0.0.1 - - "GET / HTTP/1.1"')).toBe(true);
    expect(matches(pattern, 'from 10.0.0.12 port 22')).toBe(false);
    expect(matches(pattern, 'from 110.0.0.1 port 22')).toBe(false);
    expect(matches(pattern, 'from 10.0.0.100')).toBe(false);
  });

  it('matches every address of an IPv4 network, on and off octet boundaries', () => {
    const slash24 = addressPattern('203.0.113.0/24');
    expect(matches(slash24, 'rip=203.0.113.250, lip=10.0.0.1')).toBe(true);
    expect(matches(slash24, 'from 203.0.114.1')).toBe(false);
    const slash20 = addressPattern('10.0.16.0/20');
    expect(matches(slash20, 'from 10.0.31.9 port 1')).toBe(true);
    expect(matches(slash20, 'from 10.0.16.0 port 1')).toBe(true);
    expect(matches(slash20, 'from 10.0.32.1 port 1')).toBe(false);
    expect(matches(slash20, 'from 10.0.15.1 port 1')).toBe(false);
  });

  it('matches an IPv6 /64 written compressed, in full or in capitals, and nothing outside it', () => {
    const pattern = addressPattern('2001:db8:1234::/64');
    expect(matches(pattern, 'Failed password for root from 2001:db8:1234::42 port 22')).toBe(true);
    expect(matches(pattern, 'client 2001:db8:1234:0:1:2:3:4 said')).toBe(true);
    expect(matches(pattern, '[2001:0DB8:1234:0000:0000:0000:0000:0001]')).toBe(true);
    expect(matches(pattern, 'from 2001:db8:1235::42')).toBe(false);
    expect(matches(pattern, 'from 2001:db8:1234:5::1')).toBe(false);
    expect(matches(pattern, 'from 12001:db8:1234::1')).toBe(false);
    const single = addressPattern('2001:db8::8a2e:370:7334');
    expect(matches(single, 'from 2001:db8::8a2e:370:7334 port 22')).toBe(true);
    expect(matches(single, 'from 2001:db8::8a2e:370:73345')).toBe(false);
  });

  it('opens Explore on the Loki datasource with the query and the range', () => {
    const url = exploreUrl(
      { uid: 'loki-uid', type: 'loki' },
      { expr: '{job="sshd"} |= "x"', exprs: ['{job="sshd"} |= "x"'], from: 1000, to: 2000 },
      3,
    );
    const params = new URLSearchParams(url.slice(url.indexOf('?')));
    expect(url.startsWith('explore?')).toBe(true);
    expect(params.get('schemaVersion')).toBe('1');
    expect(params.get('orgId')).toBe('3');
    expect(JSON.parse(params.get('panes')!)).toEqual({
      lokiban: {
        datasource: 'loki-uid',
        queries: [
          {
            refId: 'A',
            datasource: { type: 'loki', uid: 'loki-uid' },
            expr: '{job="sshd"} |= "x"',
            queryType: 'range',
          },
        ],
        range: { from: '1000', to: '2000' },
      },
    });
  });
});
