import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import type { JailSettings } from '../domain/jail.js';
import { formatIssues, formatPath } from '../lib/zod-issues.js';
import { configSchema, type ParsedConfig } from './schema.js';

export interface Config extends Omit<ParsedConfig, 'jails'> {
  jails: Record<string, JailSettings>;
}

export class ConfigError extends Error {
  constructor(
    message: string,
    readonly problems: string[],
  ) {
    super(`${message}\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const ENV_REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

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
): unknown {
  if (typeof value === 'string') {
    return value.replace(ENV_REFERENCE, (_, name: string) => {
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
    return value.map((item, index) => interpolate(item, env, [...path, index], problems));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, interpolate(item, env, [...path, key], problems)]),
    );
  }
  return value;
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
      },
    ]),
  );
}

/** Parses and validates YAML text; every problem names its YAML path. Throws ConfigError. */
export function parseConfig(text: string, env: NodeJS.ProcessEnv = process.env): Config {
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (document.errors.length > 0) {
    throw new ConfigError(
      'the configuration is not valid YAML',
      document.errors.map((error) => error.message.split('\n')[0]!),
    );
  }
  const problems: string[] = [];
  const raw = interpolate(document.toJS() ?? {}, env, [], problems);
  if (problems.length > 0) throw new ConfigError('the configuration refers to missing secrets', problems);
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError('the configuration is invalid', formatIssues(result.error.issues));
  }
  return { ...result.data, jails: resolveJails(result.data) };
}

export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read ${file}`, [(error as Error).message]);
  }
  return parseConfig(text, env);
}
