import { createHash } from 'node:crypto';
import { Scalar, stringify } from 'yaml';
import type { z } from 'zod';
import type { Config } from '../config/load.js';
import { defaultsSchema, rulesSchema } from '../config/schema.js';
import { unknownJailProblems } from '../config/suggest.js';
import { formatDuration } from '../domain/duration.js';
import { parseNetwork } from '../domain/ip.js';
import { MANUAL_JAIL } from '../domain/types.js';
import { HOST_PLACEHOLDER, type JailDefinition, SYSLOG_PLACEHOLDER } from './catalogue.js';
import { isBareSelector, parseRuleQuery } from './query.js';

export type RulesSettings = z.output<typeof rulesSchema>;
export type RenderFormat = 'loki' | 'grafana';

// [0-9] rather than \d: ASCII digits in every RE2 flavour, whatever its Unicode settings.
const IPV4 = String.raw`(?:[0-9]{1,3}\.){3}[0-9]{1,3}`;
// Loose on purpose (the responder re-validates every address): hex groups with 2–7 colons, `::` allowed.
const IPV6 = '[0-9A-Fa-f]*(?::[0-9A-Fa-f]*){2,7}';
// An IPv4-mapped address (`::ffff:1.2.3.4`, sshd on a dual-stack socket) is extracted as plain IPv4 so
// one attacker is one series, and the responder sees the same address whichever socket saw it.
const MAPPED_PREFIX = '(?:::[fF]{4}:)?';

/** The named group that replaces `<HOST>`: IPv4 first, so `1.2.3.4` never matches as IPv6. */
export function hostGroup(ipLabel: string): string {
  return `${MAPPED_PREFIX}(?P<${ipLabel}>${IPV4}|${IPV6})`;
}

// Anchored at the start of the line, where only the log writer (never the client) puts text. Either
// RFC 5424 (`<PRI>1 TIME HOST APP PROCID MSGID SD `; an SD element ends at its first unquoted `]`) or
// RFC 3164 / ISO 8601 / daemontools' TAI64N / journal (`[TIME ][HOST ]prog[pid]: `, `[prog] `), then
// Solaris' message id and a kernel timestamp. Every part has a fixed number of space-free tokens, so the prefix cannot
// reach into the message.
const SYSLOG_PREFIX = String.raw`(?:<[0-9]+>[0-9]+ \S+ \S+ \S+ \S+ \S+ (?:-|(?:\[(?:[^\]"]|"(?:[^"\\]|\\.)*")*\])+) |(?:(?:[A-Z][a-z]{2} {1,2}[0-9]{1,2} [0-9:]{8}|[0-9-]{10}T\S+|@\S{24}) )?(?:[\w.-]+ )?(?:[\w./-]+(?:\[[0-9]+\])?:|\[[\w./-]+\]:?) (?:\[ID [0-9]+ \S+\] )?(?:kernel: ?\[ *[0-9.]+\]:? )?)?`;

export function expandRegexp(regexp: string, ipLabel: string): string {
  return regexp.replace(HOST_PLACEHOLDER, hostGroup(ipLabel)).replaceAll(SYSLOG_PLACEHOLDER, SYSLOG_PREFIX);
}

export const RENDER_HEADER = '# Rendered by `lokiban rules render` from alert-rules/jails. Do not edit.';

/** Everything a rule needs, resolved from the catalogue and (optionally) lokiban.yaml. */
export interface ResolvedJail {
  definition: JailDefinition;
  selector: string;
  maxretry: number;
  findtime: number;
  ignoreip: string[];
}

export interface RenderContext {
  jails: ResolvedJail[];
  /** Whether lokiban.yaml chose the jails and their values (else: the whole catalogue, its values). */
  fromConfig?: boolean;
  labels: { ip: string; jail: string; host: string };
  rules: RulesSettings;
}

export interface RenderedRule {
  jail: string;
  /** The rule's name within a jail split in several; '' for a single-rule jail. */
  part: string;
  alert: string;
  expr: string;
  maxretry: number;
  findtime: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/**
 * Without a config every catalogue jail renders with its own defaults (the committed reference
 * rendering). With a config only the jails it lists and enables render, with the config's values:
 * one file drives both the rules and the responder, and a jail is off until it is asked for, as in
 * fail2ban's jail.local.
 */
export function resolveRenderContext(catalogue: JailDefinition[], config?: Config): RenderContext {
  if (!config) {
    const defaults = defaultsSchema.parse({});
    return {
      jails: catalogue.map((definition) => ({
        definition,
        selector: definition.selector,
        maxretry: definition.maxretry,
        findtime: definition.findtime,
        ignoreip: defaults.ignoreip,
      })),
      labels: { ip: 'ip', jail: 'jail', host: 'host' },
      rules: rulesSchema.parse({}),
      fromConfig: false,
    };
  }
  const byName = new Map(catalogue.map((definition) => [definition.name, definition]));
  // `manual` is the responder's jail for hand-made bans: it has no rule to render.
  const problems = unknownJailProblems(
    Object.keys(config.jails).filter((name) => name !== MANUAL_JAIL),
    catalogue.map((definition) => definition.name),
  );
  if (problems.length > 0) {
    throw new RenderConfigError(
      `jails without a definition in the catalogue (add alert-rules/jails/<name>.yaml):\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
  }
  const jails = Object.values(config.jails)
    .filter((settings) => settings.enabled && settings.name !== MANUAL_JAIL)
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((settings) => {
      const definition = byName.get(settings.name)!;
      return {
        definition,
        selector: settings.selector ?? definition.selector,
        maxretry: settings.maxretry,
        findtime: settings.findtime,
        ignoreip: settings.ignoreip,
      };
    });
  return { jails, labels: config.labels, rules: config.rules, fromConfig: true };
}

/** The configuration asks for something the catalogue cannot render. */
export class RenderConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RenderConfigError';
  }
}

/** LogQL string literal: a raw backtick string when possible, so regexps need no double escaping. */
export function quoteLogql(value: string): string {
  if (!value.includes('`')) return `\`${value}\``;
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function doubleQuote(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export type JailRule = JailDefinition['rules'][number];

/**
 * One rule's log pipeline: selector, line filters, the `regexp` extraction, the empty-address and
 * allowlist filters and the jail label, i.e. exactly the lines that rule counts. Grafana Explore runs
 * it (with `| ip = ip("…")`) to show the log lines behind a ban.
 */
export function buildPipeline(
  jail: ResolvedJail,
  labels: RenderContext['labels'],
  rule: JailRule = jail.definition.rules[0]!,
): string {
  const { definition } = jail;
  if (!isBareSelector(jail.selector)) {
    throw new RenderConfigError(
      `${definition.name}: selector ${jail.selector} is not a bare LogQL stream selector`,
    );
  }
  const regexp = expandRegexp(rule.regexp, labels.ip);
  const stages = [
    ...rule.filters.map((filter) => `${filter.op} ${quoteLogql(filter.value)}`),
    `| regexp ${quoteLogql(regexp)}`,
    `| ${labels.ip} != ""`,
    ...jail.ignoreip.map((entry) => {
      const network = parseNetwork(entry);
      if (!network)
        throw new RenderConfigError(`${definition.name}: ignoreip entry "${entry}" is not an IP or CIDR`);
      const full = network.family === 4 ? 32 : 128;
      const text = network.prefix === full ? network.address : `${network.address}/${network.prefix}`;
      return `| ${labels.ip} != ip(${doubleQuote(text)})`;
    }),
    `| label_format ${labels.jail}=${quoteLogql(definition.name)}`,
  ];
  return `${jail.selector.trim()} ${stages.join(' ')}`;
}

export function buildExpr(
  jail: ResolvedJail,
  labels: RenderContext['labels'],
  rule: JailRule = jail.definition.rules[0]!,
): string {
  const range = `${buildPipeline(jail, labels, rule)} [${formatDuration(jail.findtime)}]`;
  return `sum by (${labels.ip}, ${labels.jail}, ${labels.host}) (count_over_time(${range})) >= ${jail.maxretry}`;
}

/**
 * The log pipelines of every configured jail with a definition, one per rule of the jail (a jail
 * split into several rules counts the lines of all of them), enabled or not: a disabled jail can
 * still have active bans whose lines someone wants to see.
 */
export function jailPipelines(catalogue: JailDefinition[], config: Config): Record<string, string[]> {
  const byName = new Map(catalogue.map((definition) => [definition.name, definition]));
  const pipelines: Record<string, string[]> = {};
  for (const settings of Object.values(config.jails)) {
    const definition = byName.get(settings.name);
    if (!definition) continue;
    const jail: ResolvedJail = {
      definition,
      selector: settings.selector ?? definition.selector,
      maxretry: settings.maxretry,
      findtime: settings.findtime,
      ignoreip: settings.ignoreip,
    };
    pipelines[settings.name] = definition.rules.map((rule) => buildPipeline(jail, config.labels, rule));
  }
  return pipelines;
}

function runbookUrl(base: string, jail: string): string {
  return `${base}#${jail}`;
}

export function buildRules(context: RenderContext, format: RenderFormat): RenderedRule[] {
  const value = format === 'loki' ? '{{ $value }}' : '{{ $values.A.Value }}';
  return context.jails.flatMap((jail) =>
    jail.definition.rules.map((part) => {
      const expr = buildExpr(jail, context.labels, part);
      // The selector is operator input: refuse anything that is not a bare stream selector.
      parseRuleQuery(expr);
      const { definition } = jail;
      return {
        jail: definition.name,
        part: part.name,
        alert: `${definition.alert}${part.name.charAt(0).toUpperCase()}${part.name.slice(1)}`,
        expr,
        maxretry: jail.maxretry,
        findtime: jail.findtime,
        labels: { [context.labels.jail]: definition.name, severity: definition.severity },
        annotations: {
          summary: definition.summary,
          description: `${definition.description} ${value} matching lines from {{ $labels.${context.labels.ip} }} in ${formatDuration(jail.findtime)} (maxretry ${jail.maxretry}).`,
          runbook_url: runbookUrl(context.rules.runbookBaseUrl, definition.name),
        },
      };
    }),
  );
}

/** Rendered rules grouped by jail, in catalogue order: one rule group per jail. */
function byJail(rules: RenderedRule[]): RenderedRule[][] {
  const groups = new Map<string, RenderedRule[]>();
  for (const rule of rules) groups.set(rule.jail, [...(groups.get(rule.jail) ?? []), rule]);
  return [...groups.values()];
}

/** Long LogQL reads best as a literal block: no YAML quoting or escaping on top of LogQL's own. */
function literal(text: string): Scalar {
  const node = new Scalar(text);
  node.type = Scalar.BLOCK_LITERAL;
  return node;
}

function toYaml(value: unknown): string {
  return `${RENDER_HEADER}\n${stringify(value, { lineWidth: 0, minContentWidth: 0 })}`;
}

/** Loki ruler files: one Prometheus-style rule group per jail, for the tenant's rules directory. */
export function renderLoki(context: RenderContext): Map<string, string> {
  const files = new Map<string, string>();
  for (const rules of byJail(buildRules(context, 'loki'))) {
    const jail = rules[0]!.jail;
    files.set(
      `${jail}.yaml`,
      toYaml({
        groups: [
          {
            name: `lokiban-${jail}`,
            interval: formatDuration(context.rules.evaluationInterval),
            rules: rules.map((rule) => ({
              alert: rule.alert,
              expr: literal(rule.expr),
              labels: rule.labels,
              annotations: rule.annotations,
            })),
          },
        ],
      }),
    );
  }
  return files;
}

/**
 * Grafana rule uids are at most 40 characters: a long jail and rule name keep a hash suffix so two
 * rules never share one.
 */
function grafanaUid(rule: RenderedRule): string {
  const uid = rule.part ? `lokiban-${rule.jail}-${rule.part}` : `lokiban-${rule.jail}`;
  if (uid.length <= 40) return uid;
  const hash = createHash('sha256').update(uid).digest('hex').slice(0, 8);
  return `${uid.slice(0, 31)}-${hash}`;
}

/** Grafana alerting file provisioning: rule groups on a Loki datasource, contact point, policy. */
export function renderGrafana(context: RenderContext): Map<string, string> {
  const g = context.rules.grafana;
  const groups = byJail(buildRules(context, 'grafana')).map((rules) => ({
    orgId: g.orgId,
    name: `lokiban-${rules[0]!.jail}`,
    folder: g.folder,
    interval: formatDuration(context.rules.evaluationInterval),
    rules: rules.map((rule) => ({
      uid: grafanaUid(rule),
      title: rule.alert,
      condition: 'C',
      data: [
        {
          refId: 'A',
          queryType: 'instant',
          relativeTimeRange: { from: rule.findtime, to: 0 },
          datasourceUid: g.datasourceUid,
          model: { refId: 'A', expr: literal(rule.expr), queryType: 'instant', editorMode: 'code' },
        },
        {
          // The threshold lives in the LogQL (one source of truth with the Loki ruler); every series
          // the query returns is an offender.
          refId: 'C',
          datasourceUid: '__expr__',
          relativeTimeRange: { from: 0, to: 0 },
          model: {
            refId: 'C',
            type: 'threshold',
            expression: 'A',
            conditions: [{ evaluator: { type: 'gt', params: [0] } }],
          },
        },
      ],
      // No offenders is the normal state, not missing data.
      noDataState: 'OK',
      execErrState: 'Error',
      for: '0s',
      labels: rule.labels,
      annotations: rule.annotations,
      isPaused: false,
    })),
  }));
  const settings: Record<string, unknown> = { url: g.responderUrl, httpMethod: 'POST' };
  if (g.auth === 'bearer') {
    settings.authorization_scheme = 'Bearer';
    settings.authorization_credentials = `\${${g.tokenEnv}}`;
  } else {
    settings.hmacConfig = {
      secret: `\${${g.hmacSecretEnv}}`,
      header: 'X-Grafana-Alerting-Signature',
      timestampHeader: 'X-Grafana-Alerting-Timestamp',
    };
  }
  const { ip, jail } = context.labels;
  return new Map([
    ['alert-rules.yaml', toYaml({ apiVersion: 1, groups })],
    [
      'contact-points.yaml',
      toYaml({
        apiVersion: 1,
        contactPoints: [
          {
            orgId: g.orgId,
            name: g.contactPoint,
            receivers: [
              {
                uid: 'lokiban-webhook',
                type: 'webhook',
                // Resolved notifications tell the responder an offence ended; they never unban.
                disableResolveMessage: false,
                settings,
              },
            ],
          },
        ],
      }),
    ],
    [
      'policies.yaml',
      toYaml({
        apiVersion: 1,
        policies: [
          {
            orgId: g.orgId,
            receiver: g.rootReceiver,
            routes: [
              {
                receiver: g.contactPoint,
                object_matchers: [
                  [jail, '=~', '.+'],
                  [ip, '=~', '.+'],
                ],
                group_by: ['alertname', jail, ip],
                group_wait: formatDuration(g.groupWait),
                group_interval: formatDuration(g.groupInterval),
                repeat_interval: formatDuration(g.repeatInterval),
              },
            ],
          },
        ],
      }),
    ],
  ]);
}

export function render(context: RenderContext, format: RenderFormat): Map<string, string> {
  return format === 'loki' ? renderLoki(context) : renderGrafana(context);
}
