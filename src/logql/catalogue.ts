import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { JAIL_NAME } from '../config/schema.js';
import { parseDuration } from '../domain/duration.js';
import { formatIssues } from '../lib/zod-issues.js';

/** The placeholder a jail's regexp uses for the offending address, as in fail2ban filters. */
export const HOST_PLACEHOLDER = '<HOST>';
/** Optional syslog prefix (`Nov 27 07:00:01 host prog[123]: ` or RFC 3339), for file-shipped logs. */
export const SYSLOG_PLACEHOLDER = '<SYSLOG>';

const durationSeconds = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const parsed = parseDuration(value);
  if ('error' in parsed || parsed.seconds <= 0) {
    ctx.addIssue({ code: 'custom', message: 'error' in parsed ? parsed.error : 'must be positive' });
    return z.NEVER;
  }
  return parsed.seconds;
});

const lineFilter = z.strictObject({
  op: z.enum(['|=', '!=', '|~', '!~']),
  value: z.string().min(1),
});

/**
 * A corpus line the jail knowingly misses, pinned by content: a changed corpus line fails the check
 * instead of silently excusing another line.
 */
const corpusException = z.strictObject({
  /** Sample file under fail2ban's tests/files/logs, e.g. `sshd` or `sshd-journal`. */
  file: z.string().regex(/^[A-Za-z0-9._-]+$/),
  /** 1-based line number in that file. */
  line: z.number().int().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'sha256 is 64 lowercase hex digits'),
  reason: z.string().min(1),
});

/** The fail2ban filter (and mode) a jail is at parity with; `rules corpus` checks it. */
const fail2banParity = z.strictObject({
  filter: z.string().regex(/^[A-Za-z0-9._-]+$/),
  /** fail2ban's `mode` option; omitted: the filter's default. */
  mode: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/)
    .optional(),
  exceptions: z.array(corpusException).default([]),
  /**
   * Raises the 3 % cap on exceptions for a filter whose corpus deliberately tests joins across the
   * lines of a connection more often than that; the reason is part of the jail's documentation.
   */
  exceptionLimit: z
    .strictObject({ share: z.number().gt(0.03).max(0.15), reason: z.string().min(20) })
    .optional(),
});

/**
 * Anchored RE2 regexp with exactly one `<HOST>`, which becomes the named group `ip`; a list is
 * joined without separators so long alternations stay readable.
 */
const jailRegexp = z
  .union([z.string(), z.array(z.string()).min(1)])
  .transform((value) => (Array.isArray(value) ? value.join('') : value))
  .refine((value) => value.length > 0, 'the regexp is empty')
  .refine((value) => value.startsWith('^'), 'the regexp must be anchored with ^')
  .refine((value) => value.split(HOST_PLACEHOLDER).length === 2, 'the regexp must contain <HOST> once');

/**
 * One rule of a jail split in several: each has its own filters and regexp and renders as its own
 * alert rule with the jail's label, so every expression stays within the oldest supported Loki's
 * limits. The rules must match disjoint lines, or one attempt would count twice.
 */
const jailRule = z.strictObject({
  /** Appended to the jail's alert name: `auth` → `SshdAuth`. */
  name: z.string().regex(/^[a-z][a-z0-9]*$/, 'rule names are lowercase letters and digits'),
  filters: z.array(lineFilter).default([]),
  regexp: jailRegexp,
});

/** One jail: the single source of truth rendered to Loki ruler files and Grafana provisioning. */
export const jailDefinitionSchema = z
  .strictObject({
    name: z.string().regex(JAIL_NAME),
    /** Alert name, CamelCase as Prometheus rule conventions ask. */
    alert: z.string().regex(/^[A-Z][A-Za-z0-9]*$/, 'alert names are CamelCase'),
    description: z.string().min(1),
    /** Default LogQL stream selector; lokiban.yaml `jails.<name>.selector` replaces it. */
    selector: z.string().min(2),
    /** Cheap line filters that run before the regexp (Loki evaluates them first, on raw bytes). */
    filters: z.array(lineFilter).optional(),
    regexp: jailRegexp.optional(),
    /** Instead of filters + regexp: several rules counted under the same jail. */
    rules: z.array(jailRule).min(1).optional(),
    /**
     * Another jail whose rules this one adds to (fail2ban's modes: sshd-aggressive is sshd and more).
     * Its rules come first; the jail has its own name, alert, thresholds and parity block.
     */
    extends: z.string().regex(JAIL_NAME).optional(),
    maxretry: z.number().int().min(1),
    findtime: durationSeconds,
    severity: z.enum(['info', 'warning', 'critical']).default('warning'),
    /** Alert summary; may use `{{ $labels.ip }}` and `{{ $labels.host }}`. */
    summary: z.string().min(1),
    fail2ban: fail2banParity.optional(),
  })
  .superRefine((jail, ctx) => {
    if (jail.rules && (jail.regexp !== undefined || jail.filters !== undefined)) {
      ctx.addIssue({ code: 'custom', message: 'give either regexp (and filters) or rules, not both' });
    } else if (!jail.rules && jail.regexp === undefined) {
      ctx.addIssue({ code: 'custom', path: ['regexp'], message: 'a jail needs a regexp or rules' });
    } else if (jail.rules && jail.rules.length < 2 && !jail.extends) {
      ctx.addIssue({
        code: 'custom',
        path: ['rules'],
        message: 'write a single rule as regexp (and filters)',
      });
    }
    if (jail.extends && !jail.rules) {
      ctx.addIssue({ code: 'custom', path: ['rules'], message: 'a jail that extends another adds rules' });
    }
    const names = (jail.rules ?? []).map((rule) => rule.name);
    if (new Set(names).size !== names.length) {
      ctx.addIssue({ code: 'custom', path: ['rules'], message: 'rule names must be unique' });
    }
  })
  .transform(({ filters, regexp, rules, ...jail }) => ({
    ...jail,
    rules: rules ?? [{ name: '', filters: filters ?? [], regexp: regexp! }],
  }));

export type JailDefinition = z.output<typeof jailDefinitionSchema>;

export class CatalogueError extends Error {
  constructor(
    message: string,
    readonly problems: string[],
  ) {
    super(`${message}\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'CatalogueError';
  }
}

/** Parses one jail file; the file name (without .yaml) must equal the jail name. */
export function parseJailDefinition(text: string, source: string): JailDefinition {
  const document = parseDocument(text, { uniqueKeys: true });
  if (document.errors.length > 0) {
    throw new CatalogueError(
      `${source} is not valid YAML`,
      document.errors.map((e) => e.message.split('\n')[0]!),
    );
  }
  const result = jailDefinitionSchema.safeParse(document.toJS());
  if (!result.success) {
    throw new CatalogueError(`${source} is not a valid jail definition`, formatIssues(result.error.issues));
  }
  const expected = basename(source).replace(/\.ya?ml$/, '');
  if (result.data.name !== expected) {
    throw new CatalogueError(`${source} is not a valid jail definition`, [
      `name "${result.data.name}" must match the file name "${expected}"`,
    ]);
  }
  return result.data;
}

/** Puts the rules of the jail each one extends before its own; `extends` stays for the docs. */
export function resolveExtends(jails: JailDefinition[]): JailDefinition[] {
  const byName = new Map(jails.map((jail) => [jail.name, jail]));
  const resolved = new Map<string, JailDefinition>();
  const resolve = (jail: JailDefinition, chain: string[]): JailDefinition => {
    const done = resolved.get(jail.name);
    if (done) return done;
    if (!jail.extends) return jail;
    if (chain.includes(jail.name)) {
      throw new CatalogueError('jails extend each other in a circle', [[...chain, jail.name].join(' -> ')]);
    }
    const base = byName.get(jail.extends);
    if (!base) {
      throw new CatalogueError(`jail ${jail.name} is not a valid jail definition`, [
        `extends "${jail.extends}", which is not in the catalogue`,
      ]);
    }
    const rules = [...resolve(base, [...chain, jail.name]).rules, ...jail.rules];
    const names = rules.map((rule) => rule.name);
    const twice = names.filter((name, index) => names.indexOf(name) !== index);
    if (twice.length > 0 || names.includes('')) {
      throw new CatalogueError(`jail ${jail.name} is not a valid jail definition`, [
        twice.length > 0
          ? `rule names ${twice.join(', ')} are already used by ${jail.extends}`
          : `${jail.extends} has a single unnamed rule: name its rules to extend it`,
      ]);
    }
    const out = { ...jail, rules };
    resolved.set(jail.name, out);
    return out;
  };
  return jails.map((jail) => resolve(jail, []));
}

/** Loads every `*.yaml` under `dir`, sorted by jail name so renderings are stable. */
export function loadCatalogue(dir: string): JailDefinition[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((file) => /\.ya?ml$/.test(file));
  } catch (error) {
    throw new CatalogueError(`cannot read the jail catalogue ${dir}`, [(error as Error).message]);
  }
  return resolveExtends(
    files.map((file) => parseJailDefinition(readFileSync(join(dir, file), 'utf8'), join(dir, file))),
  ).sort((a, b) => a.name.localeCompare(b.name));
}

/** The jail names a catalogue directory defines (its file names), without parsing the files. */
export function catalogueNames(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((file) => /\.ya?ml$/.test(file))
      .map((file) => file.replace(/\.ya?ml$/, ''))
      .sort();
  } catch (error) {
    throw new CatalogueError(`cannot read the jail catalogue ${dir}`, [(error as Error).message]);
  }
}
