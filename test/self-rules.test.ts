import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startServer } from '../src/server.js';
import { testConfig } from './support/config.js';

interface RuleFile {
  groups: Array<{
    name: string;
    rules: Array<{ alert: string; expr: string; annotations: Record<string, string> }>;
  }>;
}

describe('alert-rules/prometheus/lokiban.rules.yml', () => {
  it('alerts only on series the responder exports, each rule with a summary and a runbook', async () => {
    const file = parse(
      readFileSync(new URL('../alert-rules/prometheus/lokiban.rules.yml', import.meta.url), 'utf8'),
    ) as RuleFile;
    const rules = file.groups.flatMap((group) => group.rules);
    expect(rules.map((rule) => rule.alert)).toContain('LokibanCircuitBreakerOpen');
    const server = await startServer(testConfig(), {
      listen: '127.0.0.1:0',
      enforcement: () => ({
        status: {
          hosts: () => [
            {
              name: 'web1',
              state: 'up',
              queueDepth: 0,
              lastError: null,
              lastAppliedAt: null,
              lastReconcile: null,
              setAside: { count: 0, examples: [] },
              reconcileHeld: null,
            },
          ],
        },
        notify: () => {},
        start: () => {},
        stop: async () => {},
      }),
    });
    try {
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      for (const rule of rules) {
        expect(rule.annotations.summary, rule.alert).toBeTruthy();
        expect(rule.annotations.runbook_url, rule.alert).toMatch(/^docs\/.+\.md#/);
        for (const [name] of rule.expr.matchAll(/lokiban_[a-z_]+/g))
          expect(metrics, `${rule.alert}: ${name}`).toMatch(new RegExp(`^# TYPE ${name} `, 'm'));
      }
    } finally {
      await server.close();
    }
  });
});
