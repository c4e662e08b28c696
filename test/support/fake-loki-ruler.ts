import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parse, stringify } from 'yaml';
import { syntaxErrors } from '../../src/logql/query.js';

/**
 * A double of Loki 2.7.5's ruler API (`/loki/api/v1/rules…`) with an object rule store, answering
 * with the status lines, content types and bodies recorded from a real Loki 2.7.5
 * (test/fixtures/loki-2.7.5, copied from the shared captures; loki-ruler-double.test.ts replays them).
 */

export interface Capture {
  description: string;
  request: { method: string; raw_target: string; headers: Array<[string, string]>; body: string };
  response: { status: number; headers: Array<[string, string]>; body: string };
}

export const CAPTURE_DIR = new URL('../fixtures/loki-2.7.5/', import.meta.url);

export function loadCapture(name: string): Capture {
  return JSON.parse(readFileSync(new URL(`${name}.json`, CAPTURE_DIR), 'utf8')) as Capture;
}

export function captureNames(): string[] {
  return readdirSync(CAPTURE_DIR)
    .filter((file) => file.endsWith('.json'))
    .map((file) => file.replace(/\.json$/, ''))
    .sort();
}

interface Answer {
  status: number;
  contentType: string;
  body: string;
}

/** A recorded answer: its status, its Content-Type and its body, byte for byte. */
function recorded(name: string): Answer {
  const { response } = loadCapture(name);
  const contentType = response.headers.find(([key]) => key.toLowerCase() === 'content-type')?.[1] ?? '';
  return { status: response.status, contentType, body: response.body };
}

const ACCEPTED = recorded('ruler_s3_02_post_rule_group_ok');
const NO_GROUPS = recorded('ruler_s3_01_get_rules_empty');
const UNDECODABLE = recorded('ruler_s3_03b_post_malformed_yaml');
const NO_NAME = recorded('ruler_local_07c_post_group_without_name');
const NO_NAMESPACE = recorded('ruler_s3_12b_delete_namespace_not_found');
const LOCAL_STORE = recorded('ruler_local_06_post_rule_group_local_store');
const PARSE_ERROR = recorded('ruler_s3_03_post_rule_group_bad_logql');

export interface RulerRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface FakeLokiRuler {
  url: string;
  requests: RulerRequest[];
  /** Groups per tenant and namespace, in the order Loki lists them. */
  groups(tenant: string, namespace: string): Array<Record<string, unknown>>;
  /** Seeds a namespace, as if another tool had posted the groups. */
  seed(tenant: string, namespace: string, groups: Array<Record<string, unknown>>): void;
  close(): Promise<void>;
}

type Group = Record<string, unknown> & { name: string; rules?: Array<Record<string, unknown>> };

/**
 * What the listing holds for a group: Loki re-serialises the stored proto, so `for: 0s` is left out
 * and a group without an interval has none (ruler_s3_04_get_rules_all).
 */
function listed(group: Group): Group {
  return {
    ...group,
    rules: (group.rules ?? []).map((rule) => {
      const { for: pending, ...rest } = rule;
      return pending === undefined || pending === '0s' || pending === 0 ? rest : { ...rule };
    }),
  };
}

function listing(namespaces: Map<string, Group[]>): string {
  const document: Record<string, Group[]> = {};
  for (const [namespace, groups] of [...namespaces].sort(([a], [b]) => a.localeCompare(b))) {
    if (groups.length > 0) document[namespace] = groups.map(listed);
  }
  return stringify(document, { indent: 4, lineWidth: 0 });
}

export async function startFakeLokiRuler(options: { localStore?: boolean } = {}): Promise<FakeLokiRuler> {
  const store = new Map<string, Map<string, Group[]>>();
  const requests: RulerRequest[] = [];
  const tenantOf = (headers: IncomingHttpHeaders) => String(headers['x-scope-orgid'] ?? 'fake');
  const namespacesOf = (tenant: string) => {
    let namespaces = store.get(tenant);
    if (!namespaces) {
      namespaces = new Map();
      store.set(tenant, namespaces);
    }
    return namespaces;
  };

  const handle = (method: string, path: string, headers: IncomingHttpHeaders, body: string): Answer => {
    const namespaces = namespacesOf(tenantOf(headers));
    const parts = path
      .replace(/^\/loki\/api\/v1\/rules\/?/, '')
      .split('/')
      .filter(Boolean)
      .map(decodeURIComponent);
    const [namespace, group] = parts;
    if (method === 'GET' && namespace === undefined) {
      const text = listing(namespaces);
      return text.trim() === '{}' ? NO_GROUPS : { status: 200, contentType: 'application/yaml', body: text };
    }
    if (method === 'GET' && namespace !== undefined && group === undefined) {
      const groups = namespaces.get(namespace) ?? [];
      if (groups.length === 0) return NO_GROUPS;
      return { status: 200, contentType: 'application/yaml', body: listing(new Map([[namespace, groups]])) };
    }
    if (method === 'POST' && namespace !== undefined && group === undefined) {
      if (options.localStore) return LOCAL_STORE;
      let parsed: unknown;
      try {
        // YAML is a superset of JSON: Loki takes a JSON body under any content type.
        parsed = parse(body);
      } catch {
        return UNDECODABLE;
      }
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed) || 'groups' in parsed) {
        return UNDECODABLE;
      }
      const posted = parsed as Group;
      if (!posted.name) return NO_NAME;
      for (const rule of posted.rules ?? []) {
        const errors = syntaxErrors(String(rule.expr ?? ''));
        if (errors.length > 0) {
          // Loki's own wording (it names the record even for an alert rule); the position is ours.
          const prefix = PARSE_ERROR.body.slice(0, PARSE_ERROR.body.indexOf("'"));
          return {
            ...PARSE_ERROR,
            body: `${prefix}'' in group '${posted.name}': parse error at line 1, col ${errors[0]! + 1}: syntax error\n`,
          };
        }
      }
      const groups = [...(namespaces.get(namespace) ?? [])];
      const index = groups.findIndex((existing) => existing.name === posted.name);
      if (index === -1) groups.push(posted);
      else groups[index] = posted;
      namespaces.set(namespace, groups);
      return ACCEPTED;
    }
    if (method === 'DELETE' && namespace !== undefined) {
      if (options.localStore)
        return { status: 500, contentType: 'text/plain; charset=utf-8', body: 'unsupported\n' };
      if (group === undefined) {
        if (!namespaces.has(namespace)) return NO_NAMESPACE;
        namespaces.delete(namespace);
        return ACCEPTED;
      }
      // Deleting an absent group is 202 as well (ruler_s3_10b_delete_rule_group_again).
      namespaces.set(
        namespace,
        (namespaces.get(namespace) ?? []).filter((existing) => existing.name !== group),
      );
      return ACCEPTED;
    }
    return { status: 404, contentType: 'text/plain; charset=utf-8', body: '404 page not found\n' };
  };

  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const path = (request.url ?? '/').split('?')[0]!;
      requests.push({ method: request.method ?? 'GET', path, headers: request.headers, body });
      const answer = handle(request.method ?? 'GET', path, request.headers, body);
      response.writeHead(answer.status, { 'content-type': answer.contentType });
      response.end(answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    groups: (tenant, namespace) => namespacesOf(tenant).get(namespace) ?? [],
    seed: (tenant, namespace, groups) => namespacesOf(tenant).set(namespace, groups as Group[]),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
