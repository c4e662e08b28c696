import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { parseDuration } from '../domain/duration.js';
import { type CompiledQuery, compileQuery, type Labels, type LogEntry } from './evaluate.js';
import { parseRuleQuery } from './query.js';

/** A rule as read back from a rendered file: the evaluator sees only what Loki or Grafana would load. */
export interface LoadedRule {
  source: string;
  alert: string;
  jail: string;
  expr: string;
  labels: Record<string, string>;
}

const lokiFileSchema = z.object({
  groups: z.array(
    z.object({
      name: z.string(),
      rules: z.array(
        z.object({
          alert: z.string(),
          expr: z.string(),
          labels: z.record(z.string(), z.string()).default({}),
        }),
      ),
    }),
  ),
});

const grafanaFileSchema = z.object({
  apiVersion: z.literal(1),
  groups: z.array(
    z.object({
      name: z.string(),
      rules: z.array(
        z.object({
          title: z.string(),
          condition: z.string(),
          data: z.array(
            z.object({
              refId: z.string(),
              datasourceUid: z.string(),
              model: z.record(z.string(), z.unknown()),
            }),
          ),
          labels: z.record(z.string(), z.string()).default({}),
        }),
      ),
    }),
  ),
});

export function rulesFromLokiFile(text: string, source: string, jailLabel = 'jail'): LoadedRule[] {
  const file = lokiFileSchema.parse(parse(text));
  return file.groups.flatMap((group) =>
    group.rules.map((rule) => ({
      source,
      alert: rule.alert,
      jail: rule.labels[jailLabel] ?? '',
      expr: rule.expr,
      labels: rule.labels,
    })),
  );
}

/**
 * Reads Grafana provisioning back: the condition must be a `> 0` threshold over the Loki query
 * (the comparison with maxretry lives in the LogQL itself), or the file would alert on anything.
 */
export function rulesFromGrafanaFile(text: string, source: string, jailLabel = 'jail'): LoadedRule[] {
  const file = grafanaFileSchema.parse(parse(text));
  return file.groups.flatMap((group) =>
    group.rules.map((rule) => {
      const condition = rule.data.find((d) => d.refId === rule.condition);
      const model = condition?.model as
        | {
            type?: string;
            expression?: string;
            conditions?: { evaluator?: { type?: string; params?: number[] } }[];
          }
        | undefined;
      const evaluator = model?.conditions?.[0]?.evaluator;
      if (
        model?.type !== 'threshold' ||
        evaluator?.type !== 'gt' ||
        evaluator.params?.[0] !== 0 ||
        model.conditions?.length !== 1
      ) {
        throw new Error(
          `${source}: rule ${rule.title}: condition ${rule.condition} must be a "> 0" threshold`,
        );
      }
      const query = rule.data.find((d) => d.refId === model.expression);
      const expr = query?.model.expr;
      if (typeof expr !== 'string') {
        throw new Error(`${source}: rule ${rule.title}: query ${model.expression} has no LogQL expr`);
      }
      return { source, alert: rule.title, jail: rule.labels[jailLabel] ?? '', expr, labels: rule.labels };
    }),
  );
}

const timestamp = z.union([z.string(), z.date()]).transform((value, ctx) => {
  const ms = value instanceof Date ? value.getTime() : Date.parse(value);
  if (Number.isNaN(ms)) {
    ctx.addIssue({ code: 'custom', message: `not an RFC 3339 time: ${String(value)}` });
    return z.NEVER;
  }
  return ms;
});

const step = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const parsed = parseDuration(value);
  if ('error' in parsed || parsed.seconds < 0) {
    ctx.addIssue({ code: 'custom', message: 'error' in parsed ? parsed.error : 'negative step' });
    return z.NEVER;
  }
  return parsed.seconds * 1000;
});

export const jailTestSchema = z.strictObject({
  streams: z
    .array(
      z.strictObject({
        /** Stream labels; default: the `=` matchers of the rule's selector, so overrides keep working. */
        labels: z.record(z.string(), z.string()).optional(),
        host: z.string().optional(),
        start: timestamp,
        step: step.default(1000),
        lines: z
          .array(
            z.strictObject({
              line: z.string(),
              /** The address the rule must extract; leave out for a line that must not count. */
              ip: z.string().nullable().optional(),
              note: z.string().optional(),
            }),
          )
          .min(1),
      }),
    )
    .min(1),
  alerts: z
    .array(
      z.strictObject({
        at: timestamp,
        firing: z.array(
          z.strictObject({
            ip: z.string(),
            host: z.string().optional(),
            value: z.number().optional(),
          }),
        ),
      }),
    )
    .default([]),
});

export type JailTest = z.output<typeof jailTestSchema>;

export interface TestResult {
  jail: string;
  source: string;
  lines: number;
  evaluations: number;
  failures: string[];
}

function defaultStreamLabels(compiled: CompiledQuery): Record<string, string> {
  return Object.fromEntries(
    compiled.query.selector.filter((m) => m.op === '=').map((m) => [m.name, m.value]),
  );
}

function formatLabels(labels: Labels): string {
  return `{${Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}="${v}"`)
    .join(', ')}}`;
}

export interface LabelNames {
  ip: string;
  jail: string;
  host: string;
}

/**
 * Runs one test file against the rendered rules of one jail (several when the jail is split):
 * per-line extraction, then the alerts of all its rules at each time. A line two rules count is a
 * failure: it would count one attempt twice.
 */
export function runJailTest(
  rules: LoadedRule | LoadedRule[],
  test: JailTest,
  names: LabelNames = { ip: 'ip', jail: 'jail', host: 'host' },
  options: { skipAlerts?: boolean } = {},
): TestResult {
  const all = Array.isArray(rules) ? rules : [rules];
  const failures: string[] = [];
  const compiledRules = all.map((rule) => ({ rule, compiled: compileQuery(parseRuleQuery(rule.expr)) }));
  const first = compiledRules[0]!.compiled;
  const entries: LogEntry[] = [];
  for (const [streamIndex, stream] of test.streams.entries()) {
    const labels: Record<string, string> = { ...(stream.labels ?? defaultStreamLabels(first)) };
    if (stream.host !== undefined) labels[names.host] = stream.host;
    for (const { rule, compiled } of compiledRules) {
      if (!compiled.selects(labels)) {
        failures.push(
          `stream ${streamIndex} ${formatLabels(labels)} is not selected by the selector of ${rule.alert}`,
        );
      }
    }
    stream.lines.forEach((item, lineIndex) => {
      const ts = stream.start + lineIndex * stream.step;
      entries.push({ ts, line: item.line, labels });
      const hits = compiledRules.flatMap(({ rule, compiled }) => {
        const result = compiled.process(item.line, labels);
        return result ? [{ alert: rule.alert, ip: result[names.ip] ?? '' }] : [];
      });
      const got = hits[0]?.ip ?? null;
      const want = item.ip ?? null;
      if (hits.length > 1) {
        failures.push(
          `stream ${streamIndex} line ${lineIndex + 1}: counted by ${hits.map((h) => h.alert).join(' and ')}\n      ${item.line}`,
        );
      } else if (got !== want) {
        const why =
          got === null
            ? ` (dropped by ${compiledRules
                .map(({ compiled }) => {
                  const verdict = compiled.explain(item.line, labels);
                  return verdict.matched ? '' : verdict.droppedBy;
                })
                .join('; ')})`
            : '';
        failures.push(
          `stream ${streamIndex} line ${lineIndex + 1}: expected ${want === null ? 'no match' : `ip ${want}`}, got ${got === null ? `no match${why}` : `ip ${got}`}\n      ${item.line}`,
        );
      }
    });
  }
  for (const evaluation of options.skipAlerts ? [] : test.alerts) {
    const actual = compiledRules.flatMap(({ rule, compiled }) =>
      compiled.evaluate(entries, evaluation.at).map((sample) => {
        const seriesJail = sample.labels[names.jail];
        if (
          seriesJail !== undefined &&
          rule.labels[names.jail] !== undefined &&
          seriesJail !== rule.labels[names.jail]
        ) {
          failures.push(
            `series ${names.jail}="${seriesJail}" is overridden by the rule label "${rule.labels[names.jail]}"`,
          );
        }
        const merged = { ...sample.labels, ...rule.labels };
        return {
          key: formatLabels({
            [names.ip]: merged[names.ip] ?? '',
            [names.jail]: merged[names.jail] ?? '',
            ...(merged[names.host] ? { [names.host]: merged[names.host]! } : {}),
          }),
          value: sample.value,
        };
      }),
    );
    const expected = evaluation.firing.map((alert) => ({
      key: formatLabels({
        [names.ip]: alert.ip,
        [names.jail]: all[0]!.jail,
        ...(alert.host ? { [names.host]: alert.host } : {}),
      }),
      value: alert.value,
    }));
    const missing = expected.filter(
      (e) => !actual.some((a) => a.key === e.key && (e.value === undefined || e.value === a.value)),
    );
    const unexpected = actual.filter(
      (a) => !expected.some((e) => a.key === e.key && (e.value === undefined || e.value === a.value)),
    );
    if (missing.length > 0 || unexpected.length > 0) {
      const at = new Date(evaluation.at).toISOString();
      failures.push(
        [
          `alerts at ${at} differ:`,
          ...missing.map((e) => `  - ${e.key}${e.value === undefined ? '' : ` ${e.value}`}`),
          ...unexpected.map((a) => `  + ${a.key} ${a.value}`),
        ].join('\n'),
      );
    }
  }
  return {
    jail: all[0]!.jail,
    source: all[0]!.source,
    lines: entries.length,
    evaluations: options.skipAlerts ? 0 : test.alerts.length,
    failures,
  };
}

export function loadJailTest(file: string): JailTest {
  const result = jailTestSchema.safeParse(parse(readFileSync(file, 'utf8')));
  if (!result.success) {
    throw new Error(
      `${file} is not a valid rule test:\n${result.error.issues.map((i) => `  - ${i.path.join('.')}: ${i.message}`).join('\n')}`,
    );
  }
  return result.data;
}

/**
 * Runs every `<testsDir>/<jail>/*.yaml` against each rule of that jail. A rendered jail without a
 * test folder is a failure too: every shipped rule has samples.
 */
export function runTestSuite(
  testsDir: string,
  rules: LoadedRule[],
  names?: LabelNames,
  /** Jails whose thresholds differ from those the samples were written for: lines only. */
  skipAlertsFor: ReadonlySet<string> = new Set(),
): { results: TestResult[]; problems: string[] } {
  const results: TestResult[] = [];
  const problems: string[] = [];
  const jails = new Set(rules.map((rule) => rule.jail));
  for (const jail of [...jails].sort()) {
    const dir = join(testsDir, jail);
    const files = existsSync(dir) ? readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)) : [];
    if (files.length === 0) {
      problems.push(`${jail}: no tests in ${dir}`);
      continue;
    }
    // One rendering (a Loki file, Grafana's rule file) holds all the rules of a jail.
    const renderings = new Map<string, LoadedRule[]>();
    for (const rule of rules.filter((r) => r.jail === jail)) {
      renderings.set(rule.source, [...(renderings.get(rule.source) ?? []), rule]);
    }
    for (const file of files.sort()) {
      const test = loadJailTest(join(dir, file));
      for (const [source, jailRules] of renderings) {
        const result = runJailTest(jailRules, test, names, { skipAlerts: skipAlertsFor.has(jail) });
        results.push({ ...result, source: `${source} ← ${join(dir, file)}` });
      }
    }
  }
  return { results, problems };
}
