// @vitest-environment node
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DEFAULT_OPTIONS } from './panel/types';

const ROOT = resolve(import.meta.dirname, '..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const json = (path: string) => JSON.parse(read(path));

interface Panel {
  type: string;
  datasource?: { type: string; uid: string };
  targets?: Array<{ datasource?: { type: string; uid: string }; expr?: string; kind?: string }>;
  options?: Record<string, unknown>;
}

describe('provisioning', () => {
  const panelId = json('src/panel/plugin.json').id as string;
  const datasourceId = json('src/datasource/plugin.json').id as string;
  const datasources = parse(read('provisioning/datasources/lokiban.yaml')).datasources as Array<{
    uid: string;
    type: string;
    jsonData?: Record<string, unknown>;
    secureJsonData?: Record<string, unknown>;
  }>;

  it('provisions the responder datasource with its tokens in secureJsonData only', () => {
    const lokiban = datasources.find((ds) => ds.type === datasourceId);
    expect(lokiban?.uid).toBe('lokiban');
    expect(Object.keys(lokiban?.secureJsonData ?? {}).sort()).toEqual(['adminToken', 'apiToken']);
    expect(JSON.stringify(lokiban?.jsonData)).not.toMatch(/token/i);
  });

  it('uses the panel and the provisioned datasource in the bans dashboard, with valid options', () => {
    const panels = json('provisioning/dashboards/lokiban-bans.json').panels as Panel[];
    const ours = panels.filter((panel) => panel.type === panelId);
    expect(ours.length).toBeGreaterThan(0);
    const uids = new Set(datasources.map((ds) => ds.uid));
    for (const panel of panels) {
      expect(uids.has(panel.datasource!.uid)).toBe(true);
      for (const target of panel.targets ?? []) expect(target.datasource?.type).toBe(datasourceId);
    }
    for (const panel of ours)
      expect(Object.keys(panel.options ?? {}).sort()).toEqual(Object.keys(DEFAULT_OPTIONS).sort());
  });

  it('the metrics dashboard queries metrics the responder exports', () => {
    const panels = json('provisioning/dashboards/lokiban-responder.json').panels as Panel[];
    const names = new Set(
      panels.flatMap((panel) =>
        (panel.targets ?? []).flatMap((target) => target.expr?.match(/lokiban_\w+/g) ?? []),
      ),
    );
    expect(names.size).toBeGreaterThan(5);
    const exported = read('../src/http/metrics.ts');
    for (const name of names) {
      // prom-client's default process/nodejs metrics carry the lokiban_ prefix too.
      if (/^lokiban_(process|nodejs)_/.test(name)) continue;
      const base = name.replace(/_(bucket|sum|count)$/, '');
      expect(exported, `${name} is not defined in src/http/metrics.ts`).toContain(`'${base}'`);
    }
  });
});
