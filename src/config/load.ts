import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import type { JailSettings } from '../domain/jail.js';
import { formatIssue, formatPath } from '../lib/zod-issues.js';
import { configSchema, type ParsedConfig } from './schema.js';

export interface Config extends Omit<ParsedConfig, 'jails'> {
  jails: Record<string, JailSettings>;
}

export class ConfigError extends Error {
  constructor(
    message: string,
    readonly problems: string[],
  ) {
    super(problems.length === 0 ? message : `${message}\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const ENV_REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** Stands in for a secret the command at hand never uses (long enough for the schema's minimum). */
const UNUSED_SECRET = 'unused-by-this-command-0000000000';

/** Options for commands that use only part of the configuration. */
export interface ParseOptions {
  /**
   * Top-level sections this command never uses: a `${NAME}` in them that is not set is not an error
   * (e.g. `hosts check` needs SSH settings, not the webhook and API secrets).
   */
  unusedSections?: readonly string[];
}

/** Keys whose values are never echoed back in an error, whatever their section. */
const SECRET_KEY = /(token|secret|password|bearer|privatekey|credential|postgres)/i;

const URL_WITH_CREDENTIALS = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*@/i;

/** Sections whose values are secrets (or URLs that carry them) as a whole. */
const SECRET_SECTIONS = new Set(['auth']);

/**
 * Replaces `${NAME}` in every string value with the environment variable NAME, or with the contents
 * of the file named by NAME_FILE (the Docker/Kubernetes secrets convention). Done after YAML parsing
 * so a secret's characters can never change the document's structure.
 */
function interpolate(
  value: unknown,
  env: NodeJS.ProcessEnv,
  path: (string | number)[],
  problems: string[],
  unused: (path: (string | number)[]) => boolean,
): unknown {
  if (typeof value === 'string') {
    return value.replace(ENV_REFERENCE, (_, name: string) => {
      if (unused(path) && env[name] === undefined && env[`${name}_FILE`] === undefined) {
        return UNUSED_SECRET;
      }
      const direct = env[name];
      if (direct !== undefined) return direct;
      const file = env[`${name}_FILE`];
      if (file !== undefined) {
        try {
          return readFileSync(file, 'utf8').trim();
        } catch (error) {
          problems.push(`${formatPath(path)}: cannot read ${name}_FILE (${(error as Error).message})`);
          return '';
        }
      }
      problems.push(`${formatPath(path)}: environment variable ${name} is not set (nor ${name}_FILE)`);
      return '';
    });
  }
  if (Array.isArray(value))
    return value.map((item, index) => interpolate(item, env, [...path, index], problems, unused));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [
        key,
        interpolate(item, env, [...path, key], problems, unused),
      ]),
    );
  }
  return value;
}

/** The value at `path` as the operator wrote it (before `${NAME}` expansion), if it is safe to show. */
function echo(written: unknown, path: readonly PropertyKey[]): string {
  if (path.length === 0 || SECRET_SECTIONS.has(String(path[0]))) return '';
  if (path.some((part) => typeof part === 'string' && SECRET_KEY.test(part))) return '';
  let value = written;
  for (const part of path) {
    if (value === null || typeof value !== 'object') return '';
    value = (value as Record<PropertyKey, unknown>)[part as string];
  }
  if (typeof value === 'string') {
    // A URL with user info carries a password: that is the very mistake being reported.
    if (URL_WITH_CREDENTIALS.test(value)) return '';
    const shown = value.length > 80 ? `${value.slice(0, 77)}...` : value;
    return ` (got ${JSON.stringify(shown)})`;
  }
  if (typeof value === 'number' || typeof value === 'boolean') return ` (got ${value})`;
  return '';
}

function describeIssue(issue: z.core.$ZodIssue, written: unknown): string {
  if (issue.code === 'unrecognized_keys') return formatIssue(issue);
  const shown = echo(written, issue.path);
  // A message that already names the value (`duplicate host "web1"`, `4000w is longer than …`) needs no
  // echo; a value of one or two characters is echoed anyway, as the message may contain it by chance.
  const value = shown.slice(' (got '.length, -1);
  const raw = value.startsWith('"') ? (JSON.parse(value) as string) : value;
  const quoted =
    shown !== '' && (issue.message.includes(value) || (raw.length > 2 && issue.message.includes(raw)));
  return `${formatPath(issue.path)}: ${issue.message}${quoted ? '' : shown}`;
}

function resolveJails(parsed: ParsedConfig): Record<string, JailSettings> {
  const { defaults } = parsed;
  return Object.fromEntries(
    Object.entries(parsed.jails).map(([name, jail]) => [
      name,
      {
        name,
        enabled: jail.enabled,
        bantime: jail.bantime ?? defaults.bantime,
        findtime: jail.findtime ?? defaults.findtime,
        maxretry: jail.maxretry ?? defaults.maxretry,
        // fail2ban semantics: a jail's ignoreip replaces the default list rather than adding to it.
        ignoreip: jail.ignoreip ?? defaults.ignoreip,
        scope: jail.scope ?? defaults.scope,
        ipv6prefix: jail.ipv6prefix ?? defaults.ipv6prefix,
        increment: { ...defaults.increment, ...jail.increment },
        ...(jail.selector ? { selector: jail.selector } : {}),
        ...(jail.maxNewBansPerMinute ? { maxNewBansPerMinute: jail.maxNewBansPerMinute } : {}),
      },
    ]),
  );
}

/** Parses and validates YAML text; every problem names its YAML path. Throws ConfigError. */
export function parseConfig(
  text: string,
  env: NodeJS.ProcessEnv = process.env,
  options: ParseOptions = {},
): Config {
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const [first] = document.errors;
  if (first) {
    // The first error only: the parser's later ones follow from it and only add noise.
    const where = first.linePos?.[0];
    const reason = first.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    throw new ConfigError(
      `the configuration is not valid YAML${where ? ` (line ${where.line}, column ${where.col})` : ''}: ${reason}`,
      [],
    );
  }
  const problems: string[] = [];
  const written = document.toJS() ?? {};
  const unusedSections = new Set(options.unusedSections ?? []);
  const raw = interpolate(written, env, [], problems, (path) => unusedSections.has(String(path[0])));
  if (problems.length > 0) throw new ConfigError('the configuration refers to missing secrets', problems);
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(
      'the configuration is invalid',
      result.error.issues.map((issue) => describeIssue(issue, written)),
    );
  }
  return { ...result.data, jails: resolveJails(result.data) };
}

export function loadConfig(
  file: string,
  env: NodeJS.ProcessEnv = process.env,
  options: ParseOptions = {},
): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read the file: ${(error as Error).message}`, []);
  }
  return parseConfig(text, env, options);
}
