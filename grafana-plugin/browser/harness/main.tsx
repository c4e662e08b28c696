/**
 * Loads the built plugins the way Grafana does: each `module.js` is an AMD module whose
 * dependencies (React, @grafana/*, @emotion/css, rxjs) are supplied by the host page, here from
 * the real packages bundled into this harness. The datasource talks to a local stand-in for
 * Grafana's data proxy, which adds the token server side.
 */
import * as emotionCss from '@emotion/css';
import * as grafanaData from '@grafana/data';
import {
  createTheme,
  type DataFrame,
  type DataQueryRequest,
  type DataSourceApi,
  type DataSourcePlugin,
  dateTime,
  LoadingState,
  type PanelData,
  type PanelPlugin,
  standardEditorsRegistry,
  ThemeContext,
} from '@grafana/data';
import * as grafanaRuntime from '@grafana/runtime';
import {
  type BackendSrvRequest,
  config,
  type FetchResponse,
  setBackendSrv,
  setDataSourceSrv,
} from '@grafana/runtime';
import * as grafanaUi from '@grafana/ui';
import { GlobalStyles, PanelChrome } from '@grafana/ui';
import * as React from 'react';
import * as ReactDOM from 'react-dom';
import { flushSync } from 'react-dom';
import { createRoot, type Root } from 'react-dom/client';
import * as rxjs from 'rxjs';

type AmdFactory = (...deps: unknown[]) => void;
const SHARED: Record<string, unknown> = {
  react: React,
  'react-dom': ReactDOM,
  '@grafana/data': grafanaData,
  '@grafana/ui': grafanaUi,
  '@grafana/runtime': grafanaRuntime,
  '@emotion/css': emotionCss,
  rxjs,
};

let pending: { deps: string[]; factory: AmdFactory } | undefined;
const define = (deps: string[], factory: AmdFactory) => {
  pending = { deps, factory };
};
define.amd = {};
(window as unknown as { define: typeof define }).define = define;

async function loadAmd(url: string): Promise<Record<string, unknown>> {
  pending = undefined;
  await new Promise<void>((resolve, reject) => {
    const script = document.createElement('script');
    script.src = url;
    script.onload = () => resolve();
    script.onerror = () => reject(new Error(`could not load ${url}`));
    document.head.append(script);
  });
  const module = pending as { deps: string[]; factory: AmdFactory } | undefined;
  if (!module) throw new Error(`${url} did not call define()`);
  const exports: Record<string, unknown> = {};
  const args = module.deps.map((dep) => {
    if (dep === 'exports') return exports;
    if (dep === 'require') return (id: string) => SHARED[id];
    if (!(dep in SHARED)) throw new Error(`${url} needs "${dep}", which Grafana does not provide`);
    return SHARED[dep];
  });
  module.factory(...args);
  return exports;
}

/** Grafana's backendSrv.fetch contract: an Observable of FetchResponse, errors carry status and data. */
setBackendSrv({
  fetch<T>(request: BackendSrvRequest) {
    return new rxjs.Observable<FetchResponse<T>>((subscriber) => {
      const url = new URL(request.url, location.origin);
      for (const [key, value] of Object.entries(request.params ?? {}))
        url.searchParams.set(key, String(value));
      fetch(url, {
        method: request.method ?? 'GET',
        headers: request.data === undefined ? {} : { 'content-type': 'application/json' },
        body: request.data === undefined ? undefined : JSON.stringify(request.data),
      })
        .then(async (response) => {
          const text = await response.text();
          let data: unknown = text;
          try {
            data = text ? JSON.parse(text) : undefined;
          } catch {
            // a non-JSON body (e.g. a proxy error page) is kept as text
          }
          const fetchResponse = {
            data: data as T,
            status: response.status,
            statusText: response.statusText,
            ok: response.ok,
            headers: response.headers,
            redirected: response.redirected,
            type: response.type,
            url: response.url,
            config: request,
          } as FetchResponse<T>;
          if (response.ok) {
            subscriber.next(fetchResponse);
            subscriber.complete();
          } else subscriber.error({ ...fetchResponse, data });
        })
        .catch((error: unknown) =>
          subscriber.error({ status: 502, data: { message: String(error) }, config: request }),
        );
    });
  },
} as never);

// Grafana core registers the option editors at start-up; plugins refer to them by id. The
// harness never shows the options pane, so the ids are all it needs.
standardEditorsRegistry.setInit(() =>
  ['radio', 'boolean', 'number', 'text'].map((id) => ({ id, name: id, editor: () => null })),
);

const DS_UID = 'lokiban';
interface Harness {
  ready: Promise<void>;
  render(options: {
    mode: 'light' | 'dark';
    width: number;
    height: number;
    role?: 'Viewer' | 'Editor';
    timeZone?: string;
  }): Promise<{
    queryMs: number;
    renderMs: number;
    rows: number;
  }>;
  timeClick(selector: string): Promise<number>;
}

let panelPlugin: PanelPlugin;
let datasource: DataSourceApi;
let root: Root | undefined;

const ready = (async () => {
  // The app's folder as Grafana serves it: the app's module and the nested plugins' folders.
  await loadAmd('/plugins/lokiban-app/module.js');
  const dsModule = await loadAmd('/plugins/lokiban-app/datasource/module.js');
  const panelModule = await loadAmd('/plugins/lokiban-app/panel/module.js');
  const dsPlugin = dsModule.plugin as DataSourcePlugin<DataSourceApi>;
  panelPlugin = panelModule.plugin as PanelPlugin;
  const meta = await (await fetch('/plugins/lokiban-app/datasource/plugin.json')).json();
  const settings = {
    id: 1,
    uid: DS_UID,
    type: meta.id,
    name: 'lokiban',
    meta,
    url: `/api/datasources/proxy/uid/${DS_UID}`,
    access: 'proxy',
    jsonData: {},
    readOnly: true,
  };
  datasource = new (dsPlugin.DataSourceClass as unknown as new (s: typeof settings) => DataSourceApi)(
    settings,
  );
  // A Loki datasource as Grafana lists it, for the bans' logs links (Explore itself is not served).
  const loki = {
    id: 2,
    uid: 'loki',
    type: 'loki',
    name: 'Loki',
    meta: { id: 'loki' },
    access: 'proxy',
    jsonData: {},
  };
  const all = [settings, loki];
  const find = (ref: unknown) => {
    const key = typeof ref === 'string' ? ref : (ref as { uid?: string } | undefined)?.uid;
    return key === undefined ? settings : all.find((ds) => ds.uid === key || ds.name === key);
  };
  setDataSourceSrv({
    get: async () => datasource,
    getInstanceSettings: find,
    getList: (filters?: { type?: string }) => all.filter((ds) => !filters?.type || ds.type === filters.type),
    reload: async () => {},
    registerRuntimeDataSource: () => {},
  } as never);
})();

function nextPaint(): Promise<void> {
  return new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
}

const harness: Harness = {
  ready,
  async render({ mode, width, height, role = 'Editor', timeZone = 'Europe/Berlin' }) {
    await ready;
    config.bootData.user = { ...config.bootData.user, orgRole: role as never, isSignedIn: true };
    const now = Date.now();
    const range = {
      from: dateTime(now - 6 * 3_600_000),
      to: dateTime(now),
      raw: { from: 'now-6h', to: 'now' },
    };
    const targets = [{ refId: 'A', datasource: { uid: DS_UID, type: datasource.type } }];
    const request = {
      requestId: 'harness',
      targets,
      range,
      interval: '1m',
      intervalMs: 60_000,
    } as unknown as DataQueryRequest;
    const queryStart = performance.now();
    const response = await (datasource.query(request) as Promise<{
      data: DataFrame[];
      errors?: PanelData['errors'];
    }>);
    const queryMs = performance.now() - queryStart;
    const data: PanelData = {
      state: response.errors?.length ? LoadingState.Error : LoadingState.Done,
      series: response.data,
      errors: response.errors,
      timeRange: range,
      request,
    };
    const theme = createTheme({ colors: { mode } });
    const Panel = panelPlugin.panel!;
    const options = { ...(panelPlugin.defaults ?? {}) } as Record<string, unknown>;
    const container = document.getElementById('root')!;
    root?.unmount();
    root = createRoot(container);
    const renderStart = performance.now();
    flushSync(() =>
      root!.render(
        <ThemeContext.Provider value={theme}>
          <GlobalStyles />
          <div style={{ padding: 16, background: theme.colors.background.canvas, width: 'fit-content' }}>
            <PanelChrome title="Bans" width={width} height={height}>
              {(innerWidth, innerHeight) => (
                <Panel
                  id={1}
                  data={data}
                  timeRange={range}
                  timeZone={timeZone}
                  options={options}
                  fieldConfig={{ defaults: {}, overrides: [] }}
                  transparent={false}
                  width={innerWidth}
                  height={innerHeight}
                  renderCounter={0}
                  title="Bans"
                  eventBus={{ publish: () => {}, subscribe: () => ({ unsubscribe: () => {} }) } as never}
                  onOptionsChange={() => {}}
                  onFieldConfigChange={() => {}}
                  replaceVariables={(value: string) => value}
                  onChangeTimeRange={() => {}}
                />
              )}
            </PanelChrome>
          </div>
        </ThemeContext.Provider>,
      ),
    );
    await nextPaint();
    const renderMs = performance.now() - renderStart;
    return { queryMs, renderMs, rows: document.querySelectorAll('[data-testid="lokiban-row"]').length };
  },
  async timeClick(selector) {
    const element = document.querySelector<HTMLElement>(selector);
    if (!element) throw new Error(`no element ${selector}`);
    const start = performance.now();
    flushSync(() => element.click());
    await nextPaint();
    return performance.now() - start;
  },
};

(window as unknown as { lokibanHarness: Harness }).lokibanHarness = harness;
