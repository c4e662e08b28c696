import {
  createReadStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Config, parseConfig } from '../config/load.js';
import { loadCatalogue } from './catalogue.js';
import {
  RENDER_HEADER,
  type RenderContext,
  type RenderFormat,
  render,
  renderGrafana,
  renderLoki,
  resolveRenderContext,
} from './render.js';
import { type LoadedRule, rulesFromGrafanaFile, rulesFromLokiFile } from './rule-test.js';

/** `alert-rules/` of this installation: two levels above `src/logql` and `dist/logql` alike. */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEFAULT_CATALOGUE = join(PACKAGE_ROOT, 'alert-rules', 'jails');
export const DEFAULT_TESTS = join(PACKAGE_ROOT, 'alert-rules', 'tests');
export const RENDERED_DIR = join(PACKAGE_ROOT, 'alert-rules', 'rendered');
export const DEFAULT_JAIL_DOCS = join(PACKAGE_ROOT, 'docs', 'jails.md');

/**
 * Reads lokiban.yaml for rule rendering. Rules need no secrets, so a `${NAME}` that is not set
 * resolves to a placeholder instead of failing: rendering must work on a machine without the
 * responder's tokens.
 */
export function loadConfigForRules(file: string, env: NodeJS.ProcessEnv = process.env): Config {
  const text = readFileSync(file, 'utf8');
  const placeholder = 'not-needed-to-render-rules-0000000000';
  const lenient = new Proxy(env, {
    get: (target, key) => (typeof key === 'string' ? (target[key] ?? placeholder) : undefined),
  });
  return parseConfig(text, lenient);
}

export function loadContext(options: { catalogue?: string; config?: string }): RenderContext {
  const catalogue = loadCatalogue(options.catalogue ?? DEFAULT_CATALOGUE);
  const config = options.config ? loadConfigForRules(options.config) : undefined;
  return resolveRenderContext(catalogue, config);
}

/** Rules read back from rendered text, exactly as Loki or Grafana would load them. */
export function loadRules(files: Map<string, string>, format: RenderFormat, jailLabel: string): LoadedRule[] {
  return [...files].flatMap(([name, text]) => {
    if (format === 'loki') return rulesFromLokiFile(text, name, jailLabel);
    return name === 'alert-rules.yaml' ? rulesFromGrafanaFile(text, name, jailLabel) : [];
  });
}

export function readRenderedDir(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const name of readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()) {
    files.set(name, readFileSync(join(dir, name), 'utf8'));
  }
  return files;
}

/** Writes rendered files and removes earlier renderings (files with our header) that are gone. */
export function writeRendered(files: Map<string, string>, dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  for (const name of readdirSync(dir)) {
    if (!name.endsWith('.yaml') || files.has(name)) continue;
    const path = join(dir, name);
    if (readFileSync(path, 'utf8').startsWith(RENDER_HEADER)) rmSync(path);
  }
  const written: string[] = [];
  for (const [name, text] of files) {
    writeFileSync(join(dir, name), text);
    written.push(join(dir, name));
  }
  return written;
}

/** Where the reference rendering lives in the repository, per format. */
export function committedDir(format: RenderFormat, context: RenderContext, root = RENDERED_DIR): string {
  return format === 'loki' ? join(root, 'loki', context.rules.lokiTenant) : join(root, 'grafana');
}

/** Differences between the committed reference rendering and a fresh one; empty when current. */
export function staleRendering(context: RenderContext, root = RENDERED_DIR): string[] {
  const problems: string[] = [];
  for (const format of ['loki', 'grafana'] as const) {
    const dir = committedDir(format, context, root);
    const fresh = format === 'loki' ? renderLoki(context) : renderGrafana(context);
    const committed = existsSync(dir) ? readRenderedDir(dir) : new Map<string, string>();
    for (const [name, text] of fresh) {
      const old = committed.get(name);
      if (old === undefined) problems.push(`${join(dir, name)} is missing`);
      else if (old !== text) problems.push(`${join(dir, name)} is stale`);
    }
    for (const name of committed.keys()) {
      if (!fresh.has(name)) problems.push(`${join(dir, name)} is no longer rendered`);
    }
  }
  return problems;
}

export { render };

/** Streams a file line by line without readline's per-line overhead (the explain benchmark path). */
export async function forEachLine(file: string, onLine: (line: string) => void): Promise<void> {
  let rest = '';
  for await (const chunk of createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 })) {
    const text = rest + (chunk as string);
    let start = 0;
    for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
      onLine(text.slice(start, end));
      start = end + 1;
    }
    rest = text.slice(start);
  }
  if (rest.length > 0) onLine(rest);
}
