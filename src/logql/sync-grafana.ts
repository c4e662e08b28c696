import { parse, stringify } from 'yaml';
import { parseDuration } from '../domain/duration.js';
import type { RulesSettings } from './render.js';
import { call, type SyncEndpoint, SyncSetupError } from './sync-http.js';
import { OWNED_GROUP } from './sync-loki.js';
import type { SyncChange } from './sync-plan.js';

/**
 * Grafana-managed alerting through its provisioning HTTP API (documented since Grafana 9.1; the calls
 * used here are all in 10.4's reference): the rule groups in lokiban's folder, the webhook contact
 * point, and one child route in the organisation's notification policy tree.
 */

type Json = Record<string, unknown>;

interface RenderedGroup {
  name: string;
  interval: string;
  rules: Json[];
}

interface Rendered {
  groups: RenderedGroup[];
  receiver: { uid: string; type: string; disableResolveMessage: boolean; settings: Json };
  route: Json;
}

/** The three rendered provisioning files, read back: what the API calls send. */
function readRendered(files: Map<string, string>): Rendered {
  const rules = parse(files.get('alert-rules.yaml') ?? '') as { groups: RenderedGroup[] };
  const points = parse(files.get('contact-points.yaml') ?? '') as {
    contactPoints: Array<{ receivers: Rendered['receiver'][] }>;
  };
  const policies = parse(files.get('policies.yaml') ?? '') as { policies: Array<{ routes: Json[] }> };
  return {
    groups: rules.groups,
    receiver: points.contactPoints[0]!.receivers[0]!,
    route: policies.policies[0]!.routes[0]!,
  };
}

/** Folder UIDs are at most 40 of `[A-Za-z0-9_-]`; the folder's title is `rules.grafana.folder`. */
export function folderUid(title: string): string {
  const slug = title
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return (slug || 'lokiban').slice(0, 40);
}

const DURATION_KEYS = new Set(['for', 'group_wait', 'group_interval', 'repeat_interval']);

function durationSeconds(value: unknown): unknown {
  if (typeof value !== 'string' && typeof value !== 'number') return value;
  const parsed = parseDuration(String(value));
  return 'error' in parsed ? value : parsed.seconds;
}

/**
 * Whether `current` already says everything `desired` says. Grafana adds fields of its own (ids,
 * `updated`, `provenance`, defaults in query models): only the keys lokiban sets are compared, and
 * durations as seconds (`0s` and `0` are the same).
 */
export function covers(current: unknown, desired: unknown, key?: string): boolean {
  if (key !== undefined && DURATION_KEYS.has(key)) {
    return durationSeconds(current) === durationSeconds(desired);
  }
  if (Array.isArray(desired)) {
    return (
      Array.isArray(current) &&
      current.length === desired.length &&
      desired.every((item, index) => covers(current[index], item))
    );
  }
  if (desired !== null && typeof desired === 'object') {
    if (current === null || typeof current !== 'object' || Array.isArray(current)) return false;
    return Object.entries(desired).every(([k, v]) => covers((current as Json)[k], v, k));
  }
  return current === desired;
}

/** Secret settings of the webhook contact point: Grafana answers them redacted, lokiban never prints them. */
const SECRET_SETTINGS = ['authorization_credentials', 'password'];
const REFERENCE = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/;

/** The settings without their secrets: what can be compared with Grafana's (redacted) answer. */
function visibleSettings(settings: Json): Json {
  const copy: Json = { ...settings };
  for (const key of SECRET_SETTINGS) delete copy[key];
  if (copy.hmacConfig && typeof copy.hmacConfig === 'object') {
    const { secret: _secret, ...rest } = copy.hmacConfig as Json;
    copy.hmacConfig = rest;
  }
  return copy;
}

function withoutSecrets(settings: Json): Json {
  const copy: Json = { ...settings };
  for (const key of SECRET_SETTINGS) if (key in copy) copy[key] = '(secret)';
  if (copy.hmacConfig && typeof copy.hmacConfig === 'object') {
    copy.hmacConfig = { ...(copy.hmacConfig as Json), secret: '(secret)' };
  }
  return copy;
}

/**
 * The settings with each `${NAME}` secret reference replaced by NAME from lokiban's environment:
 * Grafana expands references only in provisioning files, its API stores what it is sent.
 */
function resolveSecrets(settings: Json, env: NodeJS.ProcessEnv): Json {
  const resolve = (value: unknown): unknown => {
    if (typeof value !== 'string') return value;
    const name = REFERENCE.exec(value)?.[1];
    if (!name) return value;
    const secret = env[name];
    if (secret === undefined || secret === '') {
      throw new SyncSetupError(
        `${name} is not set: Grafana's API stores the contact point's secret itself, so lokiban needs it in its own environment`,
      );
    }
    return secret;
  };
  const copy: Json = {};
  for (const [key, value] of Object.entries(settings)) {
    copy[key] =
      value !== null && typeof value === 'object' && !Array.isArray(value)
        ? Object.fromEntries(Object.entries(value as Json).map(([k, v]) => [k, resolve(v)]))
        : resolve(value);
  }
  return copy;
}

const yaml = (value: unknown) => stringify(value, { lineWidth: 0 });

export interface GrafanaSyncOptions {
  grafana: RulesSettings['grafana'];
  env: NodeJS.ProcessEnv;
  /** Re-send the contact point even when its visible settings match (a rotated token). */
  updateSecrets?: boolean;
  /** A dry run plans without the contact point's secret; a real run needs it before any write. */
  dryRun?: boolean;
}

function toApiRule(rule: Json, group: string, uid: string, orgId: number): Json {
  return { ...rule, orgID: orgId, folderUID: uid, ruleGroup: group };
}

async function planRules(endpoint: SyncEndpoint, rendered: Rendered, options: GrafanaSyncOptions) {
  const { grafana } = options;
  const uid = folderUid(grafana.folder);
  const changes: SyncChange[] = [];
  const folder = await call(endpoint, 'GET', `api/folders/${encodeURIComponent(uid)}`, {
    accept: [200, 404],
  });
  if (folder.status === 404) {
    changes.push({
      kind: 'create',
      resource: `folder ${grafana.folder} (uid ${uid})`,
      after: yaml({ uid, title: grafana.folder }),
      apply: async () => {
        await call(endpoint, 'POST', 'api/folders', { body: JSON.stringify({ uid, title: grafana.folder }) });
      },
    });
  }
  const all =
    folder.status === 404
      ? []
      : (JSON.parse((await call(endpoint, 'GET', 'api/v1/provisioning/alert-rules')).text) as Json[]);
  const inFolder = all.filter((rule) => rule.folderUID === uid);
  const currentGroups = new Map<string, Json[]>();
  for (const rule of inFolder) {
    const name = String(rule.ruleGroup);
    currentGroups.set(name, [...(currentGroups.get(name) ?? []), rule]);
  }
  const groupPath = (name: string) =>
    `api/v1/provisioning/folder/${encodeURIComponent(uid)}/rule-groups/${encodeURIComponent(name)}`;
  for (const group of rendered.groups) {
    const interval = durationSeconds(group.interval) as number;
    const rules = group.rules.map((rule) => toApiRule(rule, group.name, uid, grafana.orgId));
    const body = { title: group.name, folderUid: uid, interval, rules };
    const resource = `rule group ${group.name}`;
    const putGroup = async () => {
      await call(endpoint, 'PUT', groupPath(group.name), { body: JSON.stringify(body) });
    };
    if (!currentGroups.has(group.name)) {
      changes.push({
        kind: 'create',
        resource,
        after: yaml(body),
        apply: async () => {
          // A rule is created on its own; the group PUT then sets the group's interval.
          for (const rule of rules) {
            await call(endpoint, 'POST', 'api/v1/provisioning/alert-rules', {
              body: JSON.stringify(rule),
              accept: [201],
            });
          }
          await putGroup();
        },
      });
      continue;
    }
    const current = JSON.parse((await call(endpoint, 'GET', groupPath(group.name))).text) as Json;
    if (covers(current, { interval, rules })) {
      changes.push({ kind: 'unchanged', resource });
      continue;
    }
    changes.push({ kind: 'update', resource, before: yaml(current), after: yaml(body), apply: putGroup });
  }
  const wanted = new Set(rendered.groups.map((group) => group.name));
  for (const [name, rules] of currentGroups) {
    if (wanted.has(name)) continue;
    if (!OWNED_GROUP.test(name)) {
      changes.push({ kind: 'foreign', resource: `rule group ${name}` });
      continue;
    }
    changes.push({
      kind: 'delete',
      resource: `rule group ${name}`,
      before: yaml(rules),
      apply: async () => {
        for (const rule of rules) {
          await call(
            endpoint,
            'DELETE',
            `api/v1/provisioning/alert-rules/${encodeURIComponent(String(rule.uid))}`,
            {
              accept: [204, 200],
            },
          );
        }
      },
    });
  }
  return changes;
}

async function planContactPoint(endpoint: SyncEndpoint, rendered: Rendered, options: GrafanaSyncOptions) {
  const name = options.grafana.contactPoint;
  const points = JSON.parse(
    (await call(endpoint, 'GET', `api/v1/provisioning/contact-points?name=${encodeURIComponent(name)}`)).text,
  ) as Json[];
  const { receiver } = rendered;
  const current =
    points.find((point) => point.uid === receiver.uid) ?? points.find((point) => point.name === name);
  const shown = {
    uid: receiver.uid,
    name,
    type: receiver.type,
    disableResolveMessage: receiver.disableResolveMessage,
    settings: withoutSecrets(receiver.settings),
  };
  const resource = `contact point ${name}`;
  const body = () =>
    options.dryRun
      ? ''
      : JSON.stringify({ ...shown, settings: resolveSecrets(receiver.settings, options.env) });
  if (!current) {
    // Resolved before anything is planned: a missing secret fails the run, not half of it.
    const text = body();
    return {
      kind: 'create' as const,
      resource,
      after: yaml(shown),
      apply: async () => {
        await call(endpoint, 'POST', 'api/v1/provisioning/contact-points', {
          body: text,
          accept: [200, 201, 202],
        });
      },
    };
  }
  const visible = { ...shown, uid: current.uid, settings: visibleSettings(receiver.settings) };
  const currentVisible = { ...current, settings: visibleSettings((current.settings as Json) ?? {}) };
  if (covers(currentVisible, visible) && !options.updateSecrets)
    return { kind: 'unchanged' as const, resource };
  const resolved = body();
  const text = resolved && JSON.stringify({ ...JSON.parse(resolved), uid: current.uid });
  return {
    kind: 'update' as const,
    resource,
    before: yaml(currentVisible),
    after: yaml(visible),
    apply: async () => {
      await call(
        endpoint,
        'PUT',
        `api/v1/provisioning/contact-points/${encodeURIComponent(String(current.uid))}`,
        {
          body: text,
          accept: [200, 202],
        },
      );
    },
  };
}

async function planPolicy(endpoint: SyncEndpoint, rendered: Rendered, options: GrafanaSyncOptions) {
  const tree = JSON.parse((await call(endpoint, 'GET', 'api/v1/provisioning/policies')).text) as Json;
  const routes = Array.isArray(tree.routes) ? (tree.routes as Json[]) : [];
  const index = routes.findIndex((route) => route.receiver === options.grafana.contactPoint);
  const resource = `notification policy route to ${options.grafana.contactPoint}`;
  if (index !== -1 && covers(routes[index], rendered.route)) return { kind: 'unchanged' as const, resource };
  // Only lokiban's child route changes; the root, its receiver and every other route stay as they are.
  // First among the children, so lokiban's alerts reach the responder before any catch-all.
  const next = {
    ...tree,
    routes:
      index === -1
        ? [rendered.route, ...routes]
        : routes.map((route, i) => (i === index ? rendered.route : route)),
  };
  return {
    kind: index === -1 ? ('create' as const) : ('update' as const),
    resource,
    before: yaml(tree),
    after: yaml(next),
    apply: async () => {
      // The API replaces the whole tree; X-Disable-Provenance keeps the user's tree editable in the UI.
      await call(endpoint, 'PUT', 'api/v1/provisioning/policies', {
        body: JSON.stringify(next),
        headers: { 'x-disable-provenance': 'true' },
        accept: [200, 202],
      });
    },
  };
}

/** Plans the whole Grafana sync from the rendered provisioning files. Nothing is written. */
export async function planGrafanaSync(
  endpoint: SyncEndpoint,
  files: Map<string, string>,
  options: GrafanaSyncOptions,
): Promise<SyncChange[]> {
  const rendered = readRendered(files);
  const rules = await planRules(endpoint, rendered, options);
  const contactPoint: SyncChange = await planContactPoint(endpoint, rendered, options);
  const policy: SyncChange = await planPolicy(endpoint, rendered, options);
  // The contact point must exist before a route names it, and before rules can notify it.
  return [contactPoint, policy, ...rules];
}
