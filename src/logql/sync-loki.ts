import { parse, stringify } from 'yaml';
import { parseDuration } from '../domain/duration.js';
import { call, type SyncEndpoint, SyncError } from './sync-http.js';
import type { SyncChange } from './sync-plan.js';

/** Rule groups lokiban renders are named `lokiban-<jail>`; no other group in the namespace is touched. */
export const OWNED_GROUP = /^lokiban-/;

export interface RuleGroup {
  name: string;
  interval?: string;
  rules: Array<Record<string, unknown>>;
}

/** The groups of rendered Loki ruler files (`groups: [...]` per file), as the ruler API takes them. */
export function groupsFromRuleFiles(files: Map<string, string>): RuleGroup[] {
  return [...files.values()].flatMap((text) => (parse(text) as { groups: RuleGroup[] }).groups);
}

function seconds(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  const parsed = parseDuration(String(value));
  return 'error' in parsed ? undefined : parsed.seconds;
}

/**
 * A group as the ruler lists it, for comparison: Loki's listing leaves out `for: 0s` and writes
 * durations its own way (`1m` for `60s`), so durations compare as seconds and a zero `for` as absent.
 */
function normalise(group: RuleGroup): unknown {
  return {
    name: group.name,
    interval: seconds(group.interval) ?? null,
    rules: group.rules.map((rule) => {
      const { for: pending, expr, ...rest } = rule;
      const forSeconds = seconds(pending);
      return {
        ...rest,
        expr: String(expr).trim(),
        ...(forSeconds ? { for: forSeconds } : {}),
      };
    }),
  };
}

const same = (a: RuleGroup, b: RuleGroup) => JSON.stringify(normalise(a)) === JSON.stringify(normalise(b));
const yaml = (group: RuleGroup) => stringify(group, { lineWidth: 0 });

export interface LokiSyncOptions {
  /** Ruler namespace lokiban's groups live in. */
  namespace: string;
}

/**
 * Plans a sync of the rendered groups into one namespace of the Loki ruler API
 * (`/loki/api/v1/rules/{namespace}`): create what is missing, update what differs, delete the
 * `lokiban-*` groups lokiban no longer renders, and leave every other group alone.
 */
export async function planLokiSync(
  endpoint: SyncEndpoint,
  desired: RuleGroup[],
  options: LokiSyncOptions,
): Promise<SyncChange[]> {
  const ns = encodeURIComponent(options.namespace);
  const listing = await call(endpoint, 'GET', `loki/api/v1/rules/${ns}`, { accept: [200, 404] });
  // 404 "no rule groups found" is an empty namespace (recorded from Loki 2.7.5).
  let current: RuleGroup[] = [];
  if (listing.status === 200) {
    let parsed: unknown;
    try {
      parsed = parse(listing.text);
    } catch (error) {
      throw new SyncError(
        `the ruler's listing of ${options.namespace} is not YAML: ${(error as Error).message}`,
      );
    }
    current = ((parsed as Record<string, RuleGroup[]> | null)?.[options.namespace] ?? []).map((group) => ({
      ...group,
      rules: group.rules ?? [],
    }));
  }
  const byName = new Map(current.map((group) => [group.name, group]));
  const wanted = new Set(desired.map((group) => group.name));
  const post = (group: RuleGroup) => async () => {
    await call(endpoint, 'POST', `loki/api/v1/rules/${ns}`, {
      body: yaml(group),
      contentType: 'application/yaml',
      accept: [202],
    }).catch((error: unknown) => {
      if (error instanceof SyncError && /unsupported in rule local store/.test(error.message)) {
        throw new SyncError(
          `${error.message} — this ruler reads rule files from disk (ruler.storage.type: local): write them with \`lokiban rules render --format loki --out DIR\` instead`,
        );
      }
      throw error;
    });
  };
  const changes: SyncChange[] = desired.map((group): SyncChange => {
    const existing = byName.get(group.name);
    const resource = `group ${group.name}`;
    if (!existing) return { kind: 'create', resource, after: yaml(group), apply: post(group) };
    if (same(existing, group)) return { kind: 'unchanged', resource };
    return { kind: 'update', resource, before: yaml(existing), after: yaml(group), apply: post(group) };
  });
  for (const group of current) {
    if (wanted.has(group.name)) continue;
    const resource = `group ${group.name}`;
    if (!OWNED_GROUP.test(group.name)) {
      changes.push({ kind: 'foreign', resource });
      continue;
    }
    changes.push({
      kind: 'delete',
      resource,
      before: yaml(group),
      apply: async () => {
        await call(endpoint, 'DELETE', `loki/api/v1/rules/${ns}/${encodeURIComponent(group.name)}`, {
          accept: [202],
        });
      },
    });
  }
  return changes;
}
