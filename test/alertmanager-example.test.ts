import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const AMTOOL = '/usr/bin/amtool';

describe('alert-rules/alertmanager.example.yml', () => {
  it('is accepted by Alertmanager (amtool check-config, from prometheus-alertmanager)', () => {
    expect(existsSync(AMTOOL), 'install prometheus-alertmanager (scripts/test-all.sh does)').toBe(true);
    const output = execFileSync(AMTOOL, ['check-config', 'alert-rules/alertmanager.example.yml'], {
      encoding: 'utf8',
    });
    expect(output).toContain('SUCCESS');
  });

  it('routes lokiban alerts one offender per group, with resolved notices and a token file', () => {
    const config = parse(readFileSync('alert-rules/alertmanager.example.yml', 'utf8'));
    const route = config.route.routes[0];
    expect(route).toMatchObject({
      receiver: 'lokiban',
      group_by: ['alertname', 'jail', 'ip'],
      group_wait: '5s',
    });
    const webhook = config.receivers.find((r: { name: string }) => r.name === 'lokiban').webhook_configs[0];
    expect(webhook.send_resolved).toBe(true);
    expect(webhook.http_config.authorization.credentials_file).toMatch(/^\//);
    expect(JSON.stringify(config)).not.toMatch(/credentials"\s*:/);
  });

  it('is the routing advice README.md, docs/api.md and docs/rules.md give, word for word', () => {
    const example = parse(readFileSync('alert-rules/alertmanager.example.yml', 'utf8'));
    const { continue: _default, ...route } = example.route.routes[0];
    const receiver = example.receivers.find((r: { name: string }) => r.name === 'lokiban');
    for (const doc of ['README.md', 'docs/api.md', 'docs/rules.md']) {
      const blocks = [...readFileSync(doc, 'utf8').matchAll(/^( *)```yaml\n([\s\S]*?)^\1```$/gm)]
        .map(([, indent, body]) =>
          body!
            .split('\n')
            .map((line) => line.slice(indent!.length))
            .join('\n'),
        )
        .filter((body) => body.includes('receiver: lokiban'));
      expect(blocks, doc).toHaveLength(1);
      const advice = parse(blocks[0]!);
      expect(advice.route.routes, doc).toEqual([route]);
      expect(advice.receivers, doc).toEqual([receiver]);
    }
  });
});
