import type { Config } from '../config/load.js';
import type { JailSettings } from '../domain/jail.js';
import type { JailDefinition } from '../logql/catalogue.js';
import { type CompiledQuery, compileQuery } from '../logql/evaluate.js';
import type { LabelMatcher } from '../logql/query.js';
import { parseRuleQuery, syntaxErrors } from '../logql/query.js';
import { buildExpr, quoteLogql, type ResolvedJail } from '../logql/render.js';

/** One rule of a jail: the very expression `rules render` writes, compiled by the evaluator `rules test` uses. */
export interface JailPart {
  name: string;
  expr: string;
  compiled: CompiledQuery;
}

/**
 * One enabled jail as the tail evaluates it. A jail whose LogQL is split into several rules (to stay
 * under the 1,024 bytes Loki 2.7 parses) is still one counter here, as in fail2ban: a line counts
 * once, through the first of its rules that keeps it.
 */
export interface JailPipeline {
  name: string;
  settings: JailSettings;
  parts: JailPart[];
  /** The selector all of the jail's rules share. */
  selector: LabelMatcher[];
}

/** One `GET /loki/api/v1/tail` connection and the jails whose lines it carries. */
export interface TailGroup {
  /** Stable name for logs, metrics and /readyz: `tail-1`, `tail-2`, … in the order of the first jail. */
  name: string;
  query: string;
  jails: JailPipeline[];
  /** The longest findtime among the jails (seconds): how far back the start-up backfill reads. */
  findtime: number;
}

export class DetectConfigError extends Error {
  override name = 'DetectConfigError';
}

const doubleQuote = (value: string) => `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/** RE2's QuoteMeta: the literal as a regexp. */
function quoteMeta(value: string): string {
  return value.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&');
}

/**
 * The enabled jails of the configuration that the catalogue defines, compiled. Jails without a
 * definition (alerts from the operator's own rules) have no pipeline to tail: they are returned in
 * `skipped` and keep arriving through the webhook only.
 */
export function buildPipelines(
  catalogue: readonly JailDefinition[],
  config: Pick<Config, 'jails' | 'labels'>,
): { pipelines: JailPipeline[]; skipped: string[] } {
  const byName = new Map(catalogue.map((definition) => [definition.name, definition]));
  const pipelines: JailPipeline[] = [];
  const skipped: string[] = [];
  for (const settings of Object.values(config.jails).sort((a, b) => a.name.localeCompare(b.name))) {
    if (!settings.enabled) continue;
    const definition = byName.get(settings.name);
    if (!definition) {
      skipped.push(settings.name);
      continue;
    }
    const resolved: ResolvedJail = {
      definition,
      selector: settings.selector ?? definition.selector,
      maxretry: settings.maxretry,
      findtime: settings.findtime,
      ignoreip: settings.ignoreip,
    };
    try {
      const parts = definition.rules.map((rule) => {
        const expr = buildExpr(resolved, config.labels, rule);
        return { name: rule.name, expr, compiled: compileQuery(parseRuleQuery(expr)) };
      });
      pipelines.push({ name: settings.name, settings, parts, selector: parts[0]!.compiled.query.selector });
    } catch (error) {
      throw new DetectConfigError(`jail ${settings.name}: ${(error as Error).message}`);
    }
  }
  return { pipelines, skipped };
}

function selectorKey(matchers: readonly LabelMatcher[]): string {
  return JSON.stringify([...matchers].map((m) => [m.name, m.op, m.value]).sort());
}

function selectorText(matchers: readonly LabelMatcher[]): string {
  return `{${matchers.map((m) => `${m.name}${m.op}${doubleQuote(m.value)}`).join(', ')}}`;
}

/** A regexp that every line some jail of the group keeps also matches; undefined if none narrows. */
function lineUnion(jails: readonly JailPipeline[]): string | undefined {
  const parts: string[] = [];
  for (const part of jails.flatMap((jail) => jail.parts)) {
    const first = part.compiled.query.stages.find(
      (stage) => stage.kind === 'line' && (stage.op === '|=' || stage.op === '|~'),
    );
    // A rule without a positive line filter needs every line of the stream.
    if (first?.kind !== 'line') return undefined;
    parts.push(first.op === '|=' ? quoteMeta(first.value) : `(?:${first.value})`);
  }
  return [...new Set(parts)].join('|');
}

/**
 * Groups jails into as few tails as the selectors allow (Loki's `max_concurrent_tail_requests`
 * defaults to 10 per querier): jails with the same selector share one tail, and selectors that are a
 * single `name="value"` or `name=~"regexp"` matcher on the same label merge into one
 * `name=~"v1|(?:regexp)"` tail. Each tail
 * narrows the lines with the union of its jails' first line filters; the jails' full pipelines then
 * run in-process on every line, selector included.
 */
export function groupTails(pipelines: readonly JailPipeline[]): TailGroup[] {
  const bySelector = new Map<string, { matchers: LabelMatcher[]; jails: JailPipeline[] }>();
  for (const pipeline of pipelines) {
    const matchers = pipeline.selector;
    const key = selectorKey(matchers);
    const entry = bySelector.get(key) ?? { matchers, jails: [] };
    entry.jails.push(pipeline);
    bySelector.set(key, entry);
  }
  const merged = new Map<string, { matchers: LabelMatcher[]; values: string[]; jails: JailPipeline[] }>();
  const groups: Array<{ matchers: LabelMatcher[]; jails: JailPipeline[] }> = [];
  for (const entry of bySelector.values()) {
    const only = entry.matchers.length === 1 ? entry.matchers[0]! : undefined;
    if (only?.op !== '=' && only?.op !== '=~') {
      groups.push(entry);
      continue;
    }
    // Label regexps are anchored at both ends, so alternatives of literals and of regexps combine.
    const alternative = only.op === '=' ? quoteMeta(only.value) : `(?:${only.value})`;
    const bucket = merged.get(only.name);
    if (bucket) {
      bucket.values.push(alternative);
      bucket.jails.push(...entry.jails);
    } else {
      const created = { matchers: entry.matchers, values: [alternative], jails: [...entry.jails] };
      merged.set(only.name, created);
      groups.push(created);
    }
  }
  for (const [name, bucket] of merged) {
    if (bucket.values.length > 1) {
      bucket.matchers = [{ name, op: '=~', value: bucket.values.join('|') }];
    }
  }
  return groups.map((group, index) => {
    const union = lineUnion(group.jails);
    const query = `${selectorText(group.matchers)}${union ? ` |~ ${quoteLogql(union)}` : ''}`;
    const names = group.jails.map((jail) => jail.name).join(', ');
    if (syntaxErrors(query).length > 0) {
      throw new DetectConfigError(`the tail query for jails ${names} does not parse: ${query}`);
    }
    return {
      name: `tail-${index + 1}`,
      query,
      jails: group.jails,
      findtime: Math.max(...group.jails.map((jail) => jail.settings.findtime)),
    };
  });
}
