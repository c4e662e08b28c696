import { describe, expect, it } from 'vitest';
import { loadCatalogue } from '../logql/catalogue.js';
import { compileQuery } from '../logql/evaluate.js';
import { parseRuleQuery } from '../logql/query.js';
import { render, resolveRenderContext } from '../logql/render.js';
import { DEFAULT_CATALOGUE, loadRules } from '../logql/toolkit.js';
import type { AuditEvent } from '../store/port.js';
import { formatAuditLine, logfmtValue } from './logfmt.js';

const AT = Date.UTC(2026, 0, 1);

function ban(overrides: Partial<AuditEvent> = {}, detail: Record<string, unknown> = {}): AuditEvent {
  return {
    id: 7,
    at: AT,
    kind: 'ban',
    actor: 'alertmanager',
    ip: '203.0.113.32',
    jail: 'sshd',
    banId: 3,
    detail: { level: 1, expiresAt: AT + 1_200_000, hosts: ['web1', 'web2'], originHost: 'web1', ...detail },
    ...overrides,
  };
}

/** Undoes logfmtValue the way a logfmt parser with JSON escapes (Loki's `| logfmt`) does. */
function unquote(value: string): string {
  return value.startsWith('"') ? (JSON.parse(value) as string) : value;
}

const recidiveRules = ['loki', 'grafana'].map((format) => {
  const context = resolveRenderContext(loadCatalogue(DEFAULT_CATALOGUE));
  const rule = loadRules(render(context, format as 'loki' | 'grafana'), format as 'loki', 'jail').find(
    (r) => r.jail === 'recidive',
  );
  if (!rule) throw new Error(`no recidive rule rendered for ${format}`);
  return { format, query: compileQuery(parseRuleQuery(rule.expr)) };
});
const STREAM = { job: 'lokiban', stream: 'audit' };

describe('logfmtValue', () => {
  it('leaves addresses, CIDRs, names and times bare', () => {
    for (const value of [
      '203.0.113.32',
      '2001:db8:f::/64',
      'nginx-http-auth',
      'web1,web2',
      '2026-01-01T00:20:00.000Z',
    ]) {
      expect(logfmtValue(value)).toBe(value);
    }
  });

  it('quotes and escapes everything else, round-tripping through a JSON-escape parser', () => {
    const hostile = 'a b "c" \\d\ne\rf\tg=h\u0000\u2028 ünï';
    const quoted = logfmtValue(hostile);
    expect(quoted).toBe('"a b \\"c\\" \\\\d\\ne\\rf\\tg\\u003dh\\u0000\\u2028 ünï"');
    expect(quoted).not.toMatch(/[\n\r=]/);
    expect(unquote(quoted)).toBe(hostile);
    expect(logfmtValue('')).toBe('""');
  });
});

describe('formatAuditLine', () => {
  it('writes event, ip and jail first, then the ban, in the shape the recidive jail reads', () => {
    expect(formatAuditLine(ban(), { summary: '5 failed logins' })).toBe(
      'event=ban ip=203.0.113.32 jail=sshd bantime=1200 level=1 expires=2026-01-01T00:20:00.000Z hosts=web1,web2 origin=web1 actor=alertmanager ban_id=3 summary="5 failed logins" id=7',
    );
    expect(formatAuditLine(ban({}, { expiresAt: null }))).toContain(' bantime=-1 level=1 expires=never ');
  });

  it('writes extend and unban events', () => {
    const extend = ban(
      { kind: 'extend' },
      { previousExpiresAt: AT + 600_000, addedHosts: ['web3'], expiresAt: AT + 2_400_000 },
    );
    expect(formatAuditLine(extend)).toBe(
      'event=extend ip=203.0.113.32 jail=sshd bantime=2400 level=1 expires=2026-01-01T00:40:00.000Z previous_expires=2026-01-01T00:10:00.000Z added_hosts=web3 origin=web1 actor=alertmanager ban_id=3 id=7',
    );
    const unban = ban({ kind: 'unban', actor: 'ops' }, { reason: 'false positive', level: undefined });
    expect(formatAuditLine({ ...unban, detail: { expiresAt: AT, reason: 'false positive' } })).toBe(
      'event=unban ip=203.0.113.32 jail=sshd expires=2026-01-01T00:00:00.000Z actor=ops ban_id=3 reason="false positive" id=7',
    );
  });

  it('counts for the recidive jail, in both renderings', () => {
    const line = formatAuditLine(ban(), { summary: 'x' });
    for (const { query } of recidiveRules) {
      expect(query.process(line, STREAM)).toMatchObject({ ip: '203.0.113.32', jail: 'recidive' });
      const v6 = formatAuditLine(ban({ ip: '2001:db8:f::/64' }));
      expect(query.process(v6, STREAM)).toMatchObject({ ip: '2001:db8:f::' });
      // Unbans and recidive's own bans do not count.
      expect(query.process(formatAuditLine(ban({ kind: 'unban' })), STREAM)).toBeNull();
      expect(query.process(formatAuditLine(ban({ jail: 'recidive' })), STREAM)).toBeNull();
    }
  });

  it('gives attacker-chosen text no way to forge keys or hide a ban from recidive', () => {
    const attacks = [
      'x ip=198.51.100.1 jail=recidive',
      'x" ip=198.51.100.1 jail=recidive "',
      'x\nevent=ban ip=198.51.100.1 jail=sshd',
      'x\\" jail=recidive event=ban ',
    ];
    for (const summary of attacks) {
      const line = formatAuditLine(ban({}, { originHost: summary, reason: summary }), { summary });
      expect(line).not.toMatch(/[\n\r]/);
      // The only `key=` tokens outside quoted values are the ones the formatter wrote.
      expect(line.match(/(?:^| )[a-z_]+=/g)?.map((k) => k.trim())).toEqual([
        'event=',
        'ip=',
        'jail=',
        'bantime=',
        'level=',
        'expires=',
        'hosts=',
        'origin=',
        'actor=',
        'ban_id=',
        'reason=',
        'summary=',
        'id=',
      ]);
      expect(line).not.toContain(' jail=recidive');
      expect(line).not.toContain(' ip=198.51.100.1');
      for (const { query } of recidiveRules) {
        expect(query.process(line, STREAM)).toMatchObject({ ip: '203.0.113.32', jail: 'recidive' });
      }
      const summaryValue = line.slice(line.indexOf(' summary=') + 9, line.lastIndexOf(' id='));
      expect(unquote(summaryValue)).toBe(summary);
    }
  });
});
