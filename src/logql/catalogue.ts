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
});

/** One jail: the single source of truth rendered to Loki ruler files and Grafana provisioning. */
export const jailDefinitionSchema = z.strictObject({
  name: z.string().regex(JAIL_NAME),
  /** Alert name, CamelCase as Prometheus rule conventions ask. */
  alert: z.string().regex(/^[A-Z][A-Za-z0-9]*$/, 'alert names are CamelCase'),
  description: z.string().min(1),
  /** Default LogQL stream selector; lokiban.yaml `jails.<name>.selector` replaces it. */
  selector: z.string().min(2),
  /** Cheap line filters that run before the regexp (Loki evaluates them first, on raw bytes). */
  filters: z.array(lineFilter).default([]),
  /**
   * Anchored RE2 regexp with exactly one `<HOST>`, which becomes the named group `ip`; a list is
   * joined without separators so long alternations stay readable.
   */
  regexp: z
    .union([z.string(), z.array(z.string()).min(1)])
    .transform((value) => (Array.isArray(value) ? value.join('') : value))
    .refine((value) => value.length > 0, 'the regexp is empty')
    .refine((value) => value.startsWith('^'), 'the regexp must be anchored with ^')
    .refine((value) => value.split(HOST_PLACEHOLDER).length === 2, 'the regexp must contain <HOST> once'),
  maxretry: z.number().int().min(1),
  findtime: durationSeconds,
  severity: z.enum(['info', 'warning', 'critical']).default('warning'),
  /** Alert summary; may use `{{ $labels.ip }}` and `{{ $labels.host }}`. */
  summary: z.string().min(1),
  fail2ban: fail2banParity.optional(),
});

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

/** Loads every `*.yaml` under `dir`, sorted by jail name so renderings are stable. */
export function loadCatalogue(dir: string): JailDefinition[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((file) => /\.ya?ml$/.test(file));
  } catch (error) {
    throw new CatalogueError(`cannot read the jail catalogue ${dir}`, [(error as Error).message]);
  }
  return files
    .map((file) => parseJailDefinition(readFileSync(join(dir, file), 'utf8'), join(dir, file)))
    .sort((a, b) => a.name.localeCompare(b.name));
}
