import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { ConfigError } from '../config/load.js';
import { formatDuration } from '../domain/duration.js';
import { CatalogueError, loadCatalogue } from '../logql/catalogue.js';
import { compileQuery } from '../logql/evaluate.js';
import {
  CORPUS_TABLE_HEADERS,
  type CorpusJail,
  type CorpusLine,
  corpusJail,
  corpusTableRow,
  findCorpus,
  type JailCorpusResult,
  parityProblems,
  runJailCorpus,
} from '../logql/fail2ban-corpus.js';
import { renderJailDocs } from '../logql/jail-docs.js';
import { lintRules, OLDEST_LOKI, parseLokiVersion } from '../logql/lint.js';
import { parseRuleQuery } from '../logql/query.js';
import { RENDER_HEADER, RenderConfigError, type RenderContext, type RenderFormat } from '../logql/render.js';
import { type LoadedRule, runTestSuite } from '../logql/rule-test.js';
import { planGrafanaSync } from '../logql/sync-grafana.js';
import { type SyncAuth, SyncError, SyncSetupError } from '../logql/sync-http.js';
import { groupsFromRuleFiles, planLokiSync } from '../logql/sync-loki.js';
import { applyChanges, describeChanges, type SyncChange } from '../logql/sync-plan.js';
import {
  DEFAULT_CATALOGUE,
  DEFAULT_JAIL_DOCS,
  DEFAULT_TESTS,
  forEachLine,
  loadContext,
  loadRules,
  readRenderedDir,
  render,
  staleRendering,
  writeRendered,
} from '../logql/toolkit.js';
import { loadEnvFileInto } from './config-commands.js';
import { CliError, EXIT_CONFIG } from './io.js';
import { renderTable } from './table.js';

export interface RulesIo {
  out: (text: string) => void;
  err: (text: string) => void;
  /** Where `rules sync` reads its credentials and the contact point's secret; default process.env. */
  env?: NodeJS.ProcessEnv;
}

const defaultIo: RulesIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

const TENANT = /^[A-Za-z0-9!_.*'()-]{1,150}$/;
const NAMESPACE = /^[A-Za-z0-9_.-]{1,150}$/;

/** Credentials for the ruler or Grafana, from the environment only: flags show in `ps`. */
function syncAuth(env: NodeJS.ProcessEnv): SyncAuth {
  const token = env.LOKIBAN_SYNC_TOKEN;
  const user = env.LOKIBAN_SYNC_USER;
  if (token && user) {
    throw new CliError(
      'set LOKIBAN_SYNC_TOKEN or LOKIBAN_SYNC_USER/LOKIBAN_SYNC_PASSWORD, not both',
      EXIT_CONFIG,
    );
  }
  if (token) return { kind: 'bearer', token };
  if (user) {
    const password = env.LOKIBAN_SYNC_PASSWORD;
    if (!password)
      throw new CliError('LOKIBAN_SYNC_USER is set but LOKIBAN_SYNC_PASSWORD is not', EXIT_CONFIG);
    return { kind: 'basic', username: user, password };
  }
  return { kind: 'none' };
}

function syncUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new CliError(`--url: not a URL (got ${JSON.stringify(value)})`, EXIT_CONFIG);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CliError(`--url: use http:// or https:// (got ${JSON.stringify(value)})`, EXIT_CONFIG);
  }
  if (url.username || url.password) {
    throw new CliError(
      '--url: put credentials in LOKIBAN_SYNC_TOKEN or LOKIBAN_SYNC_USER/LOKIBAN_SYNC_PASSWORD, not in the URL',
      EXIT_CONFIG,
    );
  }
  return url.href;
}

interface CommonOptions {
  config?: string;
  catalogue: string;
}

interface SourceOptions extends CommonOptions {
  rules?: string;
  format?: RenderFormat;
}

const formatOption = () =>
  new Option('--format <format>', 'loki (ruler files) or grafana (alerting provisioning)').choices([
    'loki',
    'grafana',
  ]);

function withCommon(command: Command): Command {
  return command
    .option('--config <file>', 'lokiban.yaml: enabled jails, maxretry, findtime, ignoreip, selectors')
    .option('--catalogue <dir>', 'jail definitions', DEFAULT_CATALOGUE);
}

/** The rules to check: read from `--rules DIR`, or rendered in memory for each format. */
function rulesFor(options: SourceOptions, context: RenderContext): LoadedRule[] {
  const formats: RenderFormat[] = options.format ? [options.format] : ['loki', 'grafana'];
  if (options.rules) {
    if (!options.format) throw new CliError('--rules needs --format loki or --format grafana', EXIT_CONFIG);
    // A ruler directory may hold the operator's own rule files next to lokiban's: only files that
    // `rules render` wrote (its header) are lokiban's to check.
    const files = new Map(
      [...readRenderedDir(options.rules)].filter(([, text]) => text.startsWith(RENDER_HEADER)),
    );
    return loadRules(files, options.format, context.labels.jail).map((rule) => ({
      ...rule,
      source: join(options.rules!, rule.source),
    }));
  }
  return formats.flatMap((format) =>
    loadRules(render(context, format), format, context.labels.jail).map((rule) => ({
      ...rule,
      source: `${format}:${rule.source}`,
    })),
  );
}

function parseLabels(value: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of value.split(',').filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError(`expected name=value pairs, got "${pair}"`);
    labels[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return labels;
}

export interface ExplainSummary {
  lines: number;
  matched: number;
  addresses: Map<string, number>;
  seconds: number;
}

/**
 * `--explain`: runs one rule's pipeline over every line of a file and reports, per line, whether it
 * counted and which address it extracted. Output is batched: printing must not dominate the timing.
 */
export async function explainFile(
  rules: LoadedRule[],
  file: string,
  options: { labels?: Record<string, string>; summary?: boolean; ipLabel?: string },
  io: RulesIo = defaultIo,
): Promise<ExplainSummary> {
  const compiled = rules.map((rule) => compileQuery(parseRuleQuery(rule.expr)));
  const ipLabel = options.ipLabel ?? 'ip';
  const labels =
    options.labels ??
    Object.fromEntries(compiled[0]!.query.selector.filter((m) => m.op === '=').map((m) => [m.name, m.value]));
  const addresses = new Map<string, number>();
  let lines = 0;
  let matched = 0;
  let buffer = '';
  const started = process.hrtime.bigint();
  await forEachLine(file, (line) => {
    lines++;
    if (options.summary) {
      for (const query of compiled) {
        const ip = query.extract(line, labels, ipLabel);
        if (ip === null) continue;
        matched++;
        addresses.set(ip, (addresses.get(ip) ?? 0) + 1);
        return;
      }
      return;
    }
    // A line no rule counts is explained by the rule that got furthest with it.
    let furthest = { stage: -1, query: compiled[0]! };
    for (const query of compiled) {
      const verdict = query.classify(line, labels, ipLabel);
      if (typeof verdict === 'string') {
        matched++;
        addresses.set(verdict, (addresses.get(verdict) ?? 0) + 1);
        buffer += `${lines}\tmatch\t${ipLabel}=${verdict}\t${line}\n`;
        furthest = { stage: Number.POSITIVE_INFINITY, query };
        break;
      }
      if (verdict > furthest.stage) furthest = { stage: verdict, query };
    }
    if (furthest.stage !== Number.POSITIVE_INFINITY) {
      buffer += `${lines}\tno\t${furthest.query.describe(furthest.stage)}\t${line}\n`;
    }
    if (buffer.length > 1 << 16) {
      io.out(buffer);
      buffer = '';
    }
  });
  if (buffer) io.out(buffer);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { lines, matched, addresses, seconds };
}

/** Per line of a jail's corpus run that breaks parity: where, what, why, and the pin for an exception. */
export function explainCorpus(result: JailCorpusResult): string {
  const out: string[] = [];
  const where = (line: CorpusLine) => `${line.file}:${line.line} sha256 ${line.sha256}`;
  for (const { line, outcome, rules } of result.results) {
    const want = line.expect.host ?? 'none';
    let why: string | undefined;
    if (outcome.kind === 'missed') why = `MISS  want ${want}: ${outcome.why}`;
    else if (outcome.kind === 'wrong') why = `WRONG want ${want}, got ${outcome.ip}`;
    else if (outcome.kind === 'false') why = `FALSE fail2ban asserts no match, got ${outcome.ip}`;
    else if (rules.length > 1) why = `TWICE counted by ${rules.join(', ')}`;
    else if (outcome.kind === 'excepted') why = `EXCEPTED ${outcome.reason}`;
    else if (outcome.kind === 'elsewhere') {
      why = `ELSEWHERE want ${want}: the address is only on an earlier line of the connection`;
    }
    if (why) out.push(`${why}\n      ${where(line)}\n      ${line.text}`);
  }
  return out.length > 0 ? `## ${result.jail} (${result.filter}/${result.mode})\n${out.join('\n')}\n` : '';
}

/** Adds `rules render | lint | test | corpus` to the `lokiban` program. */
export function registerRulesCommands(program: Command, io: RulesIo = defaultIo): Command {
  const rules = program.command('rules').description('render, lint and test the LogQL jail rules');

  /**
   * The catalogue and (optionally) lokiban.yaml, resolved for rendering; a broken catalogue file, a bad
   * configuration or a jail without a definition is a usage error (exit 2) that names the file.
   */
  function contextOrExit(options: CommonOptions): RenderContext {
    try {
      return loadContext(options);
    } catch (error) {
      if (error instanceof ConfigError)
        throw new CliError(`${options.config}: ${error.message}`, EXIT_CONFIG);
      if (error instanceof CatalogueError || error instanceof RenderConfigError) {
        throw new CliError(error.message, EXIT_CONFIG);
      }
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' && options.config) {
        throw new CliError(
          `${options.config}: cannot read the file: ${(error as Error).message}`,
          EXIT_CONFIG,
        );
      }
      throw error;
    }
  }

  withCommon(rules.command('render'))
    .description('render Loki ruler files or Grafana alerting provisioning from the jail catalogue')
    .addOption(formatOption().default('loki'))
    .option('--out <dir>', 'write the files here (e.g. /etc/loki/rules/<tenant>) instead of stdout')
    .option('--check', 'fail when the committed reference rendering in alert-rules/rendered is stale')
    .action((options: CommonOptions & { format: RenderFormat; out?: string; check?: boolean }) => {
      if (options.check) {
        const problems = staleRendering(contextOrExit({ catalogue: options.catalogue }));
        for (const problem of problems) io.err(`${problem}\n`);
        if (problems.length > 0) {
          io.err('re-render with `npm run rules:render`\n');
          process.exitCode = 1;
        } else {
          io.out('the committed rendering is current\n');
        }
        return;
      }
      const context = contextOrExit(options);
      for (const jail of context.jails) {
        const { definition: d } = jail;
        if (jail.maxretry !== d.maxretry || jail.findtime !== d.findtime) {
          io.err(
            `note ${d.name}: rendering maxretry ${jail.maxretry}, findtime ${formatDuration(jail.findtime)} from the configuration (the catalogue suggests ${d.maxretry}, ${formatDuration(d.findtime)})\n`,
          );
        }
      }
      const files = render(context, options.format);
      if (options.out) {
        for (const path of writeRendered(files, options.out)) io.out(`wrote ${path}\n`);
        return;
      }
      io.out([...files].map(([name, text]) => `# ${name}\n${text}`).join('---\n'));
    });

  withCommon(rules.command('sync'))
    .description(
      'push the rendered rules to the Loki ruler API or to Grafana alerting provisioning; idempotent, deletes only lokiban-* groups',
    )
    .addOption(
      new Option('--target <target>', 'loki (ruler API) or grafana (alerting provisioning API)')
        .choices(['loki', 'grafana'])
        .makeOptionMandatory(),
    )
    .requiredOption('--url <url>', 'Loki (e.g. http://loki:3100) or Grafana (e.g. http://grafana:3000)')
    .option('--tenant <id>', 'Loki: X-Scope-OrgID of a multi-tenant Loki')
    .option('--namespace <name>', "Loki: the ruler namespace for lokiban's groups", 'lokiban')
    .option(
      '--env-file <file>',
      'load environment variables (credentials, the webhook token) from this file first',
    )
    .option('--update-secrets', 'Grafana: send the contact point again even when its visible settings match')
    .option('--dry-run', 'show what would change, as a diff, and change nothing')
    .action(
      async (
        options: CommonOptions & {
          target: 'loki' | 'grafana';
          url: string;
          tenant?: string;
          namespace: string;
          envFile?: string;
          updateSecrets?: boolean;
          dryRun?: boolean;
        },
      ) => {
        const env = options.envFile
          ? loadEnvFileInto(options.envFile, io.env ?? process.env)
          : (io.env ?? process.env);
        if (options.tenant !== undefined && !TENANT.test(options.tenant)) {
          throw new CliError(
            `--tenant: tenant ids are letters, digits and ! _ . * ' ( ) - (got ${JSON.stringify(options.tenant)})`,
            EXIT_CONFIG,
          );
        }
        if (!NAMESPACE.test(options.namespace)) {
          throw new CliError(
            `--namespace: letters, digits, _ . - (got ${JSON.stringify(options.namespace)})`,
            EXIT_CONFIG,
          );
        }
        const context = contextOrExit(options);
        const url = syncUrl(options.url);
        const auth = syncAuth(env);
        let changes: SyncChange[];
        let title: string;
        try {
          if (options.target === 'loki') {
            const endpoint = {
              url,
              auth,
              headers: Object.fromEntries(options.tenant ? [['X-Scope-OrgID', options.tenant]] : []),
            };
            title = `Loki ruler ${url}${options.tenant ? ` tenant ${options.tenant}` : ''}, namespace ${options.namespace}`;
            changes = await planLokiSync(endpoint, groupsFromRuleFiles(render(context, 'loki')), {
              namespace: options.namespace,
            });
          } else {
            const { grafana } = context.rules;
            const endpoint = { url, auth, headers: { 'X-Grafana-Org-Id': String(grafana.orgId) } };
            title = `Grafana ${url} org ${grafana.orgId}, folder ${grafana.folder}`;
            changes = await planGrafanaSync(endpoint, render(context, 'grafana'), {
              grafana,
              env,
              ...(options.updateSecrets ? { updateSecrets: true } : {}),
              ...(options.dryRun ? { dryRun: true } : {}),
            });
          }
          const pending = changes.filter((change) => change.apply).length;
          io.out(
            `${title}${options.dryRun ? ' (dry run)' : ''}\n${describeChanges(changes, { diff: options.dryRun === true }).join('\n')}\n`,
          );
          if (options.dryRun) {
            io.out(
              pending === 0
                ? 'in sync: nothing to change\n'
                : `${pending} change${pending === 1 ? '' : 's'} to make; nothing was changed (dry run)\n`,
            );
            return;
          }
          const applied = await applyChanges(changes);
          io.out(
            applied === 0
              ? 'in sync: nothing to change\n'
              : `${applied} change${applied === 1 ? '' : 's'} made\n`,
          );
        } catch (error) {
          if (error instanceof SyncSetupError) throw new CliError(error.message, EXIT_CONFIG);
          if (error instanceof SyncError) throw new CliError(error.message);
          throw error;
        }
      },
    );

  withCommon(rules.command('lint'))
    .description("check rules with Grafana's LogQL grammar, RE2 and the configuration")
    .addOption(formatOption())
    .option('--rules <dir>', 'lint rendered files from this directory (needs --format)')
    .option(
      '--loki-version <version>',
      `the Loki that will load the rules (its limits are checked; default: the oldest supported, ${OLDEST_LOKI})`,
      (value: string) => {
        try {
          return parseLokiVersion(value);
        } catch (error) {
          throw new InvalidArgumentError((error as Error).message);
        }
      },
    )
    .action((options: SourceOptions & { lokiVersion?: ReturnType<typeof parseLokiVersion> }) => {
      const context = contextOrExit(options);
      const loaded = rulesFor(options, context);
      const problems = lintRules(loaded, context, options.lokiVersion, {
        requireEveryJail: !(options.rules !== undefined && options.config === undefined),
      });
      for (const p of problems) io.err(`${p.source}: ${p.rule}: ${p.problem}\n`);
      if (problems.length > 0) process.exitCode = 1;
      else io.out(`${loaded.length} rules ok\n`);
    });

  withCommon(rules.command('test'))
    .description('evaluate rules on sample logs and compare with the expected alerts (like promtool)')
    .addOption(formatOption())
    .option('--rules <dir>', 'test rendered files from this directory (needs --format)')
    .option('--tests <dir>', 'test folders, one per jail', DEFAULT_TESTS)
    .option('--jail <name>', 'only this jail')
    .option('--explain <file>', 'show, per line of FILE, whether it counted and the address it extracted')
    .option('--labels <pairs>', 'stream labels for --explain, e.g. job=sshd,host=web1', parseLabels)
    .option('--summary', 'with --explain: print only totals')
    .action(
      async (
        options: SourceOptions & {
          tests: string;
          jail?: string;
          explain?: string;
          labels?: Record<string, string>;
          summary?: boolean;
        },
      ) => {
        const context = contextOrExit(options);
        const loaded = rulesFor(options, context).filter(
          (rule) => !options.jail || rule.jail === options.jail,
        );
        if (options.explain) {
          const rule = loaded[0];
          // Both renderings hold the same expressions: explain with the first one's rules.
          const jailRules = loaded.filter((r) => r.source === rule?.source);
          if (!options.jail || !rule) {
            io.err('--explain needs --jail NAME of a rendered jail\n');
            process.exitCode = 2;
            return;
          }
          const summary = await explainFile(
            jailRules,
            options.explain,
            { labels: options.labels, summary: options.summary, ipLabel: context.labels.ip },
            io,
          );
          const top = [...summary.addresses].sort((a, b) => b[1] - a[1]).slice(0, 10);
          io.out(
            [
              `# ${rule.jail} (${rule.source}, ${jailRules.length === 1 ? rule.alert : `${jailRules.length} rules`}): ${summary.lines} lines, ${summary.matched} matched, ${summary.addresses.size} addresses, ${Math.round(summary.lines / summary.seconds)} lines/s`,
              ...top.map(([ip, count]) => `#   ${count}\t${ip}`),
              '',
            ].join('\n'),
          );
          return;
        }
        if (loaded.length === 0) {
          io.err(options.jail ? `no rendered rule for jail ${options.jail}\n` : 'no rules to test\n');
          process.exitCode = 1;
          return;
        }
        // The shipped expectations assume the catalogue's maxretry and findtime; with other values
        // from lokiban.yaml the lines are still checked, the alert times are not.
        const retuned = new Set(
          context.jails
            .filter((j) => j.maxretry !== j.definition.maxretry || j.findtime !== j.definition.findtime)
            .map((j) => j.definition.name),
        );
        for (const jail of retuned) {
          io.err(
            `note ${jail}: maxretry/findtime differ from the catalogue's; checking lines, not alert times\n`,
          );
        }
        const { results, problems } = runTestSuite(options.tests, loaded, context.labels, retuned);
        let failed = problems.length;
        for (const problem of problems) io.err(`FAIL ${problem}\n`);
        for (const result of results) {
          if (result.failures.length === 0) {
            io.out(
              `ok   ${result.jail}  ${result.source}  ${result.lines} lines, ${result.evaluations} evaluations\n`,
            );
          } else {
            failed++;
            io.out(
              `FAIL ${result.jail}  ${result.source}\n${result.failures.map((f) => `  ${f}`).join('\n')}\n`,
            );
          }
        }
        if (failed > 0) process.exitCode = 1;
      },
    );

  rules
    .command('docs')
    .description('write docs/jails.md from the jail catalogue and its samples')
    .option('--catalogue <dir>', 'jail definitions', DEFAULT_CATALOGUE)
    .option('--tests <dir>', 'test folders, one per jail', DEFAULT_TESTS)
    .option('--out <file>', 'write here instead of stdout')
    .option('--check', 'fail when --out (default docs/jails.md) is not current')
    .action((options: { catalogue: string; tests: string; out?: string; check?: boolean }) => {
      const text = renderJailDocs(loadCatalogue(options.catalogue), options.catalogue, options.tests);
      const out = options.out ?? (options.check ? DEFAULT_JAIL_DOCS : undefined);
      if (options.check) {
        if (!existsSync(out!) || readFileSync(out!, 'utf8') !== text) {
          io.err(`${out} is stale: regenerate with \`npm run rules:render\`\n`);
          process.exitCode = 1;
        } else {
          io.out(`${out} is current\n`);
        }
        return;
      }
      if (out) {
        writeFileSync(out, text);
        io.out(`wrote ${out}\n`);
      } else {
        io.out(text);
      }
    });

  rules
    .command('corpus')
    .description("check jails against fail2ban's labelled sample logs (Debian's fail2ban package)")
    .option('--catalogue <dir>', 'jail definitions', DEFAULT_CATALOGUE)
    .option('--jail <name>', 'only this jail')
    .option('--filter <name>', "with --jail: the fail2ban filter to compare with, instead of the jail's own")
    .option('--mode <mode>', "with --filter: the fail2ban mode (default: the filter's)")
    .option('--explain', 'per missed, wrong, false or double-counted line: where, why and its sha256')
    .action(
      (options: { catalogue: string; jail?: string; filter?: string; mode?: string; explain?: boolean }) => {
        const context = contextOrExit({ catalogue: options.catalogue });
        const location = findCorpus();
        if (!location) {
          io.err("fail2ban's sample logs are not installed: apt-get install fail2ban\n");
          process.exitCode = 2;
          return;
        }
        if (options.filter && !options.jail) throw new InvalidArgumentError('--filter needs --jail');
        const definitions = context.jails
          .map((jail) => jail.definition)
          .filter((definition) => !options.jail || definition.name === options.jail);
        if (definitions.length === 0) {
          io.err(`no jail ${options.jail} in ${options.catalogue}\n`);
          process.exitCode = 2;
          return;
        }
        const jails: CorpusJail[] = [];
        const unmapped: string[] = [];
        for (const definition of definitions) {
          const own = definition.fail2ban;
          if (options.filter) {
            jails.push({ definition, filter: options.filter, mode: options.mode, exceptions: [] });
          } else if (own) {
            jails.push(corpusJail(definition)!);
          } else {
            unmapped.push(definition.name);
          }
        }
        if (jails.length === 0) {
          io.err(`${unmapped.join(', ')}: no fail2ban block; name one with --filter (and --mode)\n`);
          process.exitCode = 2;
          return;
        }
        const cache = new Map<string, CorpusLine[]>();
        const results = jails.map((jail) => runJailCorpus(jail, context, location, cache));
        if (options.explain) for (const result of results) io.out(explainCorpus(result));
        io.out(`${renderTable(CORPUS_TABLE_HEADERS, results.map(corpusTableRow))}\n`);
        if (unmapped.length > 0 && !options.jail)
          io.out(`without a fail2ban block: ${unmapped.join(', ')}\n`);
        const problems = results.flatMap(parityProblems);
        for (const problem of problems) io.err(`FAIL ${problem}\n`);
        if (problems.length > 0) process.exitCode = 1;
      },
    );
  return rules;
}
