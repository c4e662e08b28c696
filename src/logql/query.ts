import { parser } from '@grafana/lezer-logql';
import type { SyntaxNode } from '@lezer/common';
import { parseDuration } from '../domain/duration.js';

/**
 * The subset of LogQL that lokiban's rules use, parsed with Grafana's own LogQL grammar so the
 * evaluator runs what Loki would run, not what the renderer meant to write.
 */
export type MatchOp = '=' | '!=' | '=~' | '!~';

export interface LabelMatcher {
  name: string;
  op: MatchOp;
  value: string;
}

export type Stage =
  | { kind: 'line'; op: '|=' | '!=' | '|~' | '!~'; value: string }
  | { kind: 'regexp'; pattern: string }
  | { kind: 'label'; matcher: LabelMatcher }
  | { kind: 'ip'; name: string; op: '=' | '!='; value: string }
  | { kind: 'label_format'; name: string; value: string };

export interface RuleQuery {
  selector: LabelMatcher[];
  stages: Stage[];
  /** count_over_time range, seconds. */
  range: number;
  groupBy: string[];
  op: '>' | '>=';
  threshold: number;
}

export class QueryError extends Error {
  override name = 'QueryError';
}

/** Positions of every error node in Grafana's LogQL grammar; empty means the text parses. */
export function syntaxErrors(query: string): number[] {
  const errors: number[] = [];
  parser.parse(query).iterate({
    enter(node) {
      if (node.type.isError) errors.push(node.from);
    },
  });
  return errors;
}

/** True for a stream selector and nothing else: `{job="sshd"}`, not `{job="sshd"} |= "x"`. */
export function isBareSelector(text: string): boolean {
  const trimmed = text.trim();
  if (!trimmed.startsWith('{') || syntaxErrors(trimmed).length > 0) return false;
  const top = parser.parse(trimmed).topNode;
  const expr = top.firstChild;
  const logExpr = expr?.name === 'Expr' ? expr.firstChild : null;
  const selector = logExpr?.name === 'LogExpr' ? logExpr.firstChild : null;
  return (
    selector?.name === 'Selector' &&
    selector.from === 0 &&
    selector.to === trimmed.length &&
    selector.nextSibling === null &&
    logExpr!.nextSibling === null &&
    expr!.nextSibling === null
  );
}

const GO_ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\', "'": "'" };

/** Decodes a LogQL string literal: backtick strings are raw, double-quoted ones use Go escapes. */
export function decodeString(literal: string): string {
  if (literal.startsWith('`')) return literal.slice(1, -1);
  if (!literal.startsWith('"')) throw new QueryError(`not a string literal: ${literal}`);
  const body = literal.slice(1, -1);
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const char = body[i]!;
    if (char !== '\\') {
      out += char;
      continue;
    }
    const next = body[++i];
    const mapped = next === undefined ? undefined : GO_ESCAPES[next];
    if (mapped === undefined) throw new QueryError(`unsupported escape \\${next ?? ''} in ${literal}`);
    out += mapped;
  }
  return out;
}

function children(node: SyntaxNode): SyntaxNode[] {
  const out: SyntaxNode[] = [];
  for (let child = node.firstChild; child; child = child.nextSibling) out.push(child);
  return out;
}

function child(node: SyntaxNode, name: string): SyntaxNode | undefined {
  return children(node).find((c) => c.name === name);
}

/** Flattens left-recursive lists (`Matchers`, `PipelineExpr`, `Labels`, `LineFilters`) in source order. */
function flatten(node: SyntaxNode, listName: string, itemName: string): SyntaxNode[] {
  const out: SyntaxNode[] = [];
  for (const c of children(node)) {
    if (c.name === listName) out.push(...flatten(c, listName, itemName));
    else if (c.name === itemName) out.push(c);
  }
  return out;
}

export function parseRuleQuery(query: string): RuleQuery {
  const errors = syntaxErrors(query);
  if (errors.length > 0) {
    throw new QueryError(
      `LogQL syntax error at offset ${errors[0]}: …${query.slice(errors[0], errors[0]! + 30)}`,
    );
  }
  const text = (node: SyntaxNode) => query.slice(node.from, node.to);
  const unsupported = (node: SyntaxNode, what: string): never => {
    throw new QueryError(`unsupported by the rule evaluator: ${what} (${text(node).slice(0, 60)})`);
  };
  const unwrapExpr = (node: SyntaxNode): SyntaxNode => {
    let current = node;
    while (current.name === 'Expr' || current.name === 'MetricExpr' || current.name === 'LogQL') {
      const inner = children(current).filter((c) => !['(', ')'].includes(c.name));
      if (inner.length !== 1) break;
      current = inner[0]!;
    }
    return current;
  };

  const top = unwrapExpr(parser.parse(query).topNode);
  if (top.name !== 'BinOpExpr') unsupported(top, 'expected `sum by (...) (count_over_time(...)) >= N`');
  const parts = children(top);
  const [lhs, opNode, , rhs] = [parts[0]!, parts[1]!, parts[2], parts[3]];
  if (!rhs) unsupported(top, 'binary expression');
  const op = opNode.name === 'Gte' ? '>=' : opNode.name === 'Gtr' ? '>' : unsupported(opNode, 'comparison');
  const literal = unwrapExpr(rhs!);
  if (literal.name !== 'LiteralExpr') unsupported(literal, 'the threshold must be a number');
  const threshold = Number(text(literal));
  if (child(top, 'BinOpModifier') && text(child(top, 'BinOpModifier')!) !== '') {
    unsupported(top, 'bool / on / ignoring');
  }

  const aggregation = unwrapExpr(lhs);
  if (aggregation.name !== 'VectorAggregationExpr') unsupported(aggregation, 'expected sum by (...)');
  const vectorOp = child(aggregation, 'VectorOp')!;
  if (text(vectorOp) !== 'sum') unsupported(vectorOp, 'only sum is supported');
  const grouping = child(aggregation, 'Grouping');
  if (!grouping || !child(grouping, 'By')) unsupported(aggregation, 'sum needs `by (...)`');
  const labels = child(grouping!, 'Labels');
  const groupBy = labels ? flatten(labels, 'Labels', 'Identifier').map(text) : [];

  const rangeAgg = unwrapExpr(child(aggregation, 'MetricExpr') ?? aggregation);
  if (rangeAgg.name !== 'RangeAggregationExpr') unsupported(rangeAgg, 'expected count_over_time(...)');
  const rangeOp = child(rangeAgg, 'RangeOp')!;
  if (text(rangeOp) !== 'count_over_time') unsupported(rangeOp, 'only count_over_time is supported');
  const logRange = child(rangeAgg, 'LogRangeExpr');
  if (!logRange) unsupported(rangeAgg, 'expected a log range');
  if (child(logRange!, 'OffsetExpr') || child(logRange!, 'UnwrapExpr'))
    unsupported(logRange!, 'offset/unwrap');
  const rangeNode = child(logRange!, 'Range')!;
  const duration = parseDuration(text(child(rangeNode, 'Duration')!));
  if ('error' in duration || duration.seconds <= 0) unsupported(rangeNode, 'range duration');
  const range = (duration as { seconds: number }).seconds;

  const selectorNode = child(logRange!, 'Selector');
  if (!selectorNode) unsupported(logRange!, 'expected a stream selector');
  const matcher = (node: SyntaxNode): LabelMatcher => {
    const [nameNode, opNodeM, valueNode] = children(node);
    if (!nameNode || !opNodeM || valueNode?.name !== 'String') unsupported(node, 'matcher');
    return { name: text(nameNode!), op: text(opNodeM!) as MatchOp, value: decodeString(text(valueNode!)) };
  };
  const matchersNode = child(selectorNode!, 'Matchers');
  const selector = matchersNode ? flatten(matchersNode, 'Matchers', 'Matcher').map(matcher) : [];

  const stages: Stage[] = [];
  const pipeline = child(logRange!, 'PipelineExpr');
  for (const stage of pipeline ? flatten(pipeline, 'PipelineExpr', 'PipelineStage') : []) {
    const lineFilters = child(stage, 'LineFilters');
    if (lineFilters) {
      for (const filter of flatten(lineFilters, 'LineFilters', 'LineFilter')) {
        const parts = children(filter);
        const filterOp = parts.find((p) => p.name === 'Filter');
        const values = parts.filter((p) => p.name === 'String');
        if (!filterOp || values.length !== 1 || parts.some((p) => p.name === 'OrFilter' || p.name === 'Ip')) {
          unsupported(filter, 'line filter form');
        }
        stages.push({
          kind: 'line',
          op: text(filterOp!) as '|=' | '!=' | '|~' | '!~',
          value: decodeString(text(values[0]!)),
        });
      }
      continue;
    }
    const parserNode = child(stage, 'LabelParser');
    if (parserNode) {
      if (!child(parserNode, 'Regexp')) unsupported(parserNode, 'only the regexp parser is supported');
      stages.push({ kind: 'regexp', pattern: decodeString(text(child(parserNode, 'String')!)) });
      continue;
    }
    const labelFilter = child(stage, 'LabelFilter');
    if (labelFilter) {
      const inner = children(labelFilter);
      if (inner.length !== 1) unsupported(labelFilter, 'compound label filters');
      const only = inner[0]!;
      if (only.name === 'Matcher') {
        stages.push({ kind: 'label', matcher: matcher(only) });
      } else if (only.name === 'IpLabelFilter') {
        const [nameNode, ipOp, , valueNode] = children(only);
        const ipOpText = text(ipOp!);
        if (ipOpText !== '=' && ipOpText !== '!=') unsupported(only, 'ip filter operator');
        stages.push({
          kind: 'ip',
          name: text(nameNode!),
          op: ipOpText as '=' | '!=',
          value: decodeString(text(valueNode!)),
        });
      } else {
        unsupported(only, 'label filter form');
      }
      continue;
    }
    const labelFormat = child(stage, 'LabelFormatExpr');
    if (labelFormat) {
      const formats = flatten(child(labelFormat, 'LabelsFormat')!, 'LabelsFormat', 'LabelFormatMatcher');
      for (const format of formats) {
        const [nameNode, , valueNode] = children(format);
        if (valueNode?.name !== 'String') unsupported(format, 'label_format renames');
        const value = decodeString(text(valueNode!));
        // A Go template would be evaluated per line by Loki; rules only ever set a constant.
        if (value.includes('{{')) unsupported(format, 'label_format templates');
        stages.push({ kind: 'label_format', name: text(nameNode!), value });
      }
      continue;
    }
    unsupported(stage, 'pipeline stage');
  }
  return { selector, stages, range, groupBy, op, threshold };
}
