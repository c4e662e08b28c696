import { readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import type { Command } from 'commander';
import { type Config, ConfigError, loadConfig, type ParseOptions } from '../config/load.js';
import { unknownJailProblems } from '../config/suggest.js';
import { formatDuration } from '../domain/duration.js';
import { MANUAL_JAIL } from '../domain/types.js';
import { catalogueNames, loadCatalogue } from '../logql/catalogue.js';
import { DEFAULT_CATALOGUE } from '../logql/toolkit.js';
import { buildPipelines, DetectConfigError, groupTails } from '../stream/pipelines.js';
import { CliError, type CliIo, EXIT_CONFIG } from './io.js';

export interface LoadOptions extends ParseOptions {
  /** Jail definitions that config jails must name (default: the package's alert-rules/jails). */
  catalogue?: string;
}

/**
 * Loads the configuration, turning every problem into an exit-2 error that names its YAML path. A
 * jail that no definition backs is an error too: a typo such as `shd:` must not pass and leave the
 * responder ignoring every alert of the real jail.
 */
export function loadConfigOrExit(file: string, env: NodeJS.ProcessEnv, options: LoadOptions = {}): Config {
  let config: Config;
  try {
    config = loadConfig(file, env, options);
  } catch (error) {
    if (error instanceof ConfigError) throw new CliError(`${file}: ${error.message}`, EXIT_CONFIG);
    throw error;
  }
  let defined: string[];
  try {
    defined = catalogueNames(options.catalogue ?? DEFAULT_CATALOGUE);
  } catch (error) {
    throw new CliError((error as Error).message, EXIT_CONFIG);
  }
  const problems = unknownJailProblems(Object.keys(config.jails), defined, [MANUAL_JAIL]);
  if (problems.length > 0) {
    throw new CliError(
      `${file}: ${new ConfigError('the configuration is invalid', problems).message}`,
      EXIT_CONFIG,
    );
  }
  return config;
}

export function describeConfig(config: Config): string {
  const webhookAuth = Object.entries(config.auth.webhook)
    .filter(([, value]) => value !== undefined)
    .map(([key]) => key);
  const store = 'sqlite' in config.store ? `sqlite ${config.store.sqlite}` : 'postgres';
  const jails = Object.values(config.jails).map(
    (jail) =>
      `  ${jail.name}${jail.enabled ? '' : ' (disabled)'}: bantime ${formatDuration(jail.bantime)}, ` +
      `findtime ${formatDuration(jail.findtime)}, maxretry ${jail.maxretry}, scope ${Array.isArray(jail.scope) ? jail.scope.join(',') : jail.scope}`,
  );
  const tokens = config.auth.api.tokens.map((token) => `${token.name} (${token.role})`);
  return [
    `listen:    ${config.server.listen}`,
    `store:     ${store}`,
    `webhook:   ${webhookAuth.join(', ')}`,
    `api:       ${tokens.length > 0 ? tokens.join(', ') : 'no tokens (the API answers 401 to everyone)'}`,
    `transport: ${config.transport}, ${config.hosts.length} host${config.hosts.length === 1 ? '' : 's'}${config.hosts.length > 0 ? ` (${config.hosts.map((h) => h.name).join(', ')})` : ''}`,
    `jails:     ${Object.keys(config.jails).length}`,
    ...jails,
  ].join('\n');
}

/**
 * The Loki tails `detect.loki` opens for this configuration (src/stream/pipelines.ts): what the
 * responder would refuse at start-up is refused here, naming the jail.
 */
function describeTails(config: Config, file: string): string {
  try {
    const { pipelines, skipped } = buildPipelines(loadCatalogue(DEFAULT_CATALOGUE), config);
    const groups = groupTails(pipelines);
    return [
      `detect:    ${config.detect!.loki!.url}: ${pipelines.length} jail${pipelines.length === 1 ? '' : 's'} over ${groups.length} tail${groups.length === 1 ? '' : 's'}${skipped.length > 0 ? ` (not tailed, no catalogue definition: ${skipped.join(', ')})` : ''}`,
      ...groups.map((group) => `  ${group.name}: ${group.jails.map((jail) => jail.name).join(', ')}`),
    ].join('\n');
  } catch (error) {
    if (error instanceof DetectConfigError)
      throw new CliError(`${file}: detect.loki: ${error.message}`, EXIT_CONFIG);
    throw error;
  }
}

export function registerConfigCommands(program: Command, io: CliIo): void {
  const config = program.command('config').description('work with the configuration file');
  config
    .command('check')
    .description('validate a configuration file; errors name the YAML path (exit 2)')
    .requiredOption('-c, --config <file>', 'configuration file (YAML)')
    .option('--env-file <file>', 'load environment variables (secrets) from this file first')
    .action((options: { config: string; envFile?: string }) => {
      const env = options.envFile ? loadEnvFileInto(options.envFile, io.env) : io.env;
      const parsed = loadConfigOrExit(options.config, env);
      const tails = parsed.detect?.loki ? [describeTails(parsed, options.config)] : [];
      io.out(`${options.config}: configuration is valid\n${[describeConfig(parsed), ...tails].join('\n')}`);
    });
}

/**
 * Reads a dotenv file with Node's own parser (the one behind process.loadEnvFile and --env-file) and
 * returns `env` with its values added. Variables already set in the environment win, as with
 * `node --env-file`.
 */
export function loadEnvFileInto(file: string, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new CliError(`cannot read env file ${file}: ${(error as Error).message}`, EXIT_CONFIG);
  }
  return { ...parseEnv(text), ...env };
}
