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

  /** Dashboards pick datasources through variables, so the app's copies work with any instance. */
  // biome-ignore-start lint/suspicious/noTemplateCurlyInString: dashboard variable references.
  const RESPONDER = '${datasource}';
  const LOKI = '${loki}';
  // biome-ignore-end lint/suspicious/noTemplateCurlyInString: dashboard variable references.
  function variables(path: string) {
    const list = json(path).templating.list as Array<{
      name: string;
      type: string;
      query: string;
      current: { value?: string };
    }>;
    return new Map(list.filter((v) => v.type === 'datasource').map((v) => [v.name, v]));
  }

  it('uses the panel through a datasource variable that defaults to the provisioned datasource', () => {
    const dashboard = 'provisioning/dashboards/lokiban-bans.json';
    const panels = json(dashboard).panels as Panel[];
    const vars = variables(dashboard);
    expect(vars.get('datasource')).toMatchObject({ query: datasourceId, current: { value: 'lokiban' } });
    expect(vars.get('loki')?.query).toBe('loki');
    expect(datasources.map((ds) => ds.uid)).toContain(vars.get('datasource')!.current.value);
    const ours = panels.filter((panel) => panel.type === panelId);
    expect(ours.length).toBeGreaterThan(0);
    for (const panel of panels) {
      expect(panel.datasource).toEqual({ type: datasourceId, uid: RESPONDER });
      for (const target of panel.targets ?? []) expect(target.datasource).toEqual(panel.datasource);
    }
    for (const panel of ours) {
      expect(Object.keys(panel.options ?? {}).sort()).toEqual(Object.keys(DEFAULT_OPTIONS).sort());
      expect(panel.options?.logsDatasource).toBe(LOKI);
    }
  });

  it('draws history with Grafana’s own time series panel from the per-jail history query', () => {
    const panels = json('provisioning/dashboards/lokiban-bans.json').panels as Panel[];
    const history = panels.find((panel) => panel.type === 'timeseries');
    expect(history?.targets?.map((target) => target.kind)).toEqual(['history']);
  });

  it('the metrics dashboard queries metrics the responder exports', () => {
    const panels = json('provisioning/dashboards/lokiban-responder.json').panels as Panel[];
    expect(variables('provisioning/dashboards/lokiban-responder.json').get('prometheus')?.query).toBe(
      'prometheus',
    );
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
