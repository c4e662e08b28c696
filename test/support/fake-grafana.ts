import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A double of the Grafana HTTP API calls `lokiban rules sync --target grafana` makes, written from
 * Grafana's documented API (alerting provisioning reference of Grafana 10.4, the folder API, and the
 * swagger definitions of ProvisionedAlertRule / AlertRuleGroup): the paths, status codes and JSON
 * field names (`orgID`, `folderUID`, `ruleGroup`; `folderUid` on a group), secure contact point
 * settings answered as `[REDACTED]`, a notification policy tree that PUT replaces as a whole.
 */

type Json = Record<string, unknown>;

export interface GrafanaRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface FakeGrafana {
  url: string;
  requests: GrafanaRequest[];
  folders: Map<string, Json>;
  rules: Map<string, Json>;
  intervals: Map<string, number>;
  contactPoints: Json[];
  /** The organisation's notification policy tree. */
  policy: Json;
  /** Provenance of the policy tree: "" (editable in the UI) or "api". */
  policyProvenance: string;
  close(): Promise<void>;
}

const SECURE_SETTINGS = ['authorization_credentials', 'password'];

function redact(point: Json): Json {
  const settings = { ...(point.settings as Json) };
  for (const key of SECURE_SETTINGS) if (key in settings) settings[key] = '[REDACTED]';
  if (settings.hmacConfig && typeof settings.hmacConfig === 'object') {
    settings.hmacConfig = { ...(settings.hmacConfig as Json), secret: '[REDACTED]' };
  }
  return { ...point, settings };
}

const REQUIRED_RULE_FIELDS = [
  'orgID',
  'folderUID',
  'ruleGroup',
  'title',
  'condition',
  'data',
  'noDataState',
  'execErrState',
  'for',
];

export async function startFakeGrafana(
  options: { token?: string; policy?: Json; contactPoints?: Json[] } = {},
): Promise<FakeGrafana> {
  const requests: GrafanaRequest[] = [];
  const state: Omit<FakeGrafana, 'url' | 'close' | 'requests'> = {
    folders: new Map(),
    rules: new Map(),
    intervals: new Map(),
    contactPoints: options.contactPoints ?? [],
    policy: options.policy ?? {
      receiver: 'grafana-default-email',
      group_by: ['grafana_folder', 'alertname'],
    },
    policyProvenance: '',
  };
  let nextId = 1;
  const groupKey = (folder: string, group: string) => `${folder}\n${group}`;
  const groupOf = (folder: string, group: string) => ({
    title: group,
    folderUid: folder,
    interval: state.intervals.get(groupKey(folder, group)) ?? 60,
    rules: [...state.rules.values()].filter((r) => r.folderUID === folder && r.ruleGroup === group),
  });
  const stored = (rule: Json, provenance: string): Json => ({
    ...rule,
    id: (rule.id as number | undefined) ?? nextId++,
    updated: new Date(0).toISOString(),
    provenance,
    // Grafana fills a query model with its defaults when it stores a rule.
    data: (rule.data as Json[]).map((query) => ({
      ...query,
      model: { intervalMs: 1000, maxDataPoints: 43200, ...(query.model as Json) },
    })),
  });

  const handle = (req: GrafanaRequest): [number, unknown] => {
    const { method, path, query } = req;
    if (options.token && req.headers.authorization !== `Bearer ${options.token}`) {
      return [401, { message: 'Unauthorized' }];
    }
    const provenance = req.headers['x-disable-provenance'] ? '' : 'api';
    const body = req.body ? (JSON.parse(req.body) as Json) : {};
    const folderPath = /^\/api\/folders\/([^/]+)$/.exec(path);
    if (folderPath && method === 'GET') {
      const folder = state.folders.get(decodeURIComponent(folderPath[1]!));
      return folder ? [200, folder] : [404, { message: 'folder not found', status: 'not-found' }];
    }
    if (path === '/api/folders' && method === 'POST') {
      const uid = String(body.uid);
      if (state.folders.has(uid)) return [409, { message: 'a folder with the same uid already exists' }];
      const folder = { id: nextId++, uid, title: body.title };
      state.folders.set(uid, folder);
      return [200, folder];
    }
    if (path === '/api/v1/provisioning/alert-rules' && method === 'GET')
      return [200, [...state.rules.values()]];
    if (path === '/api/v1/provisioning/alert-rules' && method === 'POST') {
      const missing = REQUIRED_RULE_FIELDS.filter((field) => body[field] === undefined);
      if (missing.length > 0) return [400, { message: `invalid alert rule: missing ${missing.join(', ')}` }];
      if (!state.folders.has(String(body.folderUID))) return [400, { message: 'folder does not exist' }];
      const uid = String(body.uid ?? `generated-${nextId}`);
      if (state.rules.has(uid)) return [409, { message: 'a rule with this UID already exists' }];
      const rule = stored({ ...body, uid }, provenance);
      state.rules.set(uid, rule);
      return [201, rule];
    }
    const rulePath = /^\/api\/v1\/provisioning\/alert-rules\/([^/]+)$/.exec(path);
    if (rulePath && method === 'DELETE') {
      state.rules.delete(decodeURIComponent(rulePath[1]!));
      return [204, undefined];
    }
    const groupPath = /^\/api\/v1\/provisioning\/folder\/([^/]+)\/rule-groups\/([^/]+)$/.exec(path);
    if (groupPath) {
      const folder = decodeURIComponent(groupPath[1]!);
      const group = decodeURIComponent(groupPath[2]!);
      const current = groupOf(folder, group);
      if (method === 'GET')
        return current.rules.length > 0 ? [200, current] : [404, { message: 'rule group not found' }];
      if (method === 'PUT') {
        if (!state.folders.has(folder)) return [400, { message: 'folder does not exist' }];
        const rules = (body.rules as Json[] | undefined) ?? [];
        // The group becomes exactly these rules: others in it are deleted (ReplaceRuleGroup).
        for (const rule of current.rules) state.rules.delete(String(rule.uid));
        for (const rule of rules) {
          const uid = String(rule.uid);
          state.rules.set(uid, stored({ ...rule, uid, folderUID: folder, ruleGroup: group }, provenance));
        }
        state.intervals.set(groupKey(folder, group), Number(body.interval));
        return [200, groupOf(folder, group)];
      }
    }
    if (path === '/api/v1/provisioning/contact-points' && method === 'GET') {
      const name = query.get('name');
      return [200, state.contactPoints.filter((p) => name === null || p.name === name).map(redact)];
    }
    if (path === '/api/v1/provisioning/contact-points' && method === 'POST') {
      if (!body.name || !body.type) return [400, { message: 'invalid contact point' }];
      const point = { ...body, uid: body.uid ?? `cp-${nextId++}`, provenance };
      state.contactPoints.push(point);
      return [202, redact(point)];
    }
    const pointPath = /^\/api\/v1\/provisioning\/contact-points\/([^/]+)$/.exec(path);
    if (pointPath && method === 'PUT') {
      const uid = decodeURIComponent(pointPath[1]!);
      const index = state.contactPoints.findIndex((p) => p.uid === uid);
      if (index === -1) return [404, { message: 'contact point not found' }];
      state.contactPoints[index] = { ...body, uid, provenance };
      return [202, { message: 'contactpoint updated' }];
    }
    if (path === '/api/v1/provisioning/policies' && method === 'GET') return [200, state.policy];
    if (path === '/api/v1/provisioning/policies' && method === 'PUT') {
      if (!body.receiver)
        return [400, { message: 'invalid object specification: root route must specify a default receiver' }];
      state.policy = body;
      state.policyProvenance = provenance;
      return [202, { message: 'policies updated' }];
    }
    return [404, { message: 'Not found' }];
  };

  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const url = new URL(request.url ?? '/', 'http://grafana');
      const req: GrafanaRequest = {
        method: request.method ?? 'GET',
        path: url.pathname,
        query: url.searchParams,
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(req);
      const [status, payload] = handle(req);
      if (payload === undefined) {
        response.writeHead(status);
        response.end();
        return;
      }
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(payload));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const fake = state as FakeGrafana;
  fake.url = `http://127.0.0.1:${port}`;
  fake.requests = requests;
  fake.close = () => new Promise((resolve) => server.close(() => resolve()));
  return fake;
}
