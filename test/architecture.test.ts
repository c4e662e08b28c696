import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The layering of src/, as each folder's README states it: a folder imports itself and the folders
 * listed here, nothing else. cli/ and server.ts sit on top and may import anything.
 */
const ALLOWED: Record<string, readonly string[]> = {
  domain: [],
  lib: [],
  config: ['domain', 'lib'],
  store: ['domain', 'config', 'lib'],
  decisions: ['domain', 'config', 'store', 'stream', 'lib'],
  enforce: ['domain', 'config', 'store', 'lib'],
  audit: ['domain', 'config', 'store', 'lib'],
  logql: ['domain', 'config', 'lib'],
  stream: ['domain', 'config', 'logql', 'store', 'lib'],
  http: ['domain', 'config', 'decisions', 'store', 'enforce', 'stream', 'lib'],
};

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../src');
const IMPORT =
  /^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(IMPORT)].map((m) => (m[1] ?? m[2] ?? m[3])!);
}

/** `store` for src/store/sqlite/store.ts; `server.ts` for a file at the top of src/. */
function topFolder(file: string): string {
  return relative(SRC, file).split('/')[0]!;
}

describe('src/ layering', () => {
  const files = sources(SRC);

  it('finds the sources it checks', () => {
    expect(files.length).toBeGreaterThan(50);
  });

  it('keeps every folder to the imports its README allows', () => {
    const violations: string[] = [];
    for (const file of files) {
      const from = topFolder(file);
      const allowed = ALLOWED[from];
      if (!allowed) continue;
      for (const spec of importsOf(file)) {
        if (!spec.startsWith('.')) continue;
        const target = resolve(dirname(file), spec);
        const to = relative(SRC, target).startsWith('..') ? '(outside src)' : topFolder(target);
        if (to !== from && !allowed.includes(to)) violations.push(`${relative(SRC, file)} imports ${spec}`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('keeps the domain free of Node I/O', () => {
    const io = files
      .filter((file) => topFolder(file) === 'domain')
      .flatMap((file) =>
        importsOf(file)
          .filter((spec) => spec.startsWith('node:'))
          .map((spec) => `${relative(SRC, file)}: ${spec}`),
      );
    expect(io).toEqual([]);
  });

  it('has no import cycle between the files of http/', () => {
    const http = files.filter((file) => topFolder(file) === 'http');
    const edges = new Map(
      http.map((file) => [
        file,
        importsOf(file)
          .filter((spec) => spec.startsWith('./'))
          .map((spec) => resolve(dirname(file), spec).replace(/\.js$/, '.ts')),
      ]),
    );
    const cycles: string[] = [];
    const visit = (file: string, path: string[]) => {
      if (path.includes(file)) {
        cycles.push([...path.slice(path.indexOf(file)), file].map((f) => relative(SRC, f)).join(' → '));
        return;
      }
      for (const next of edges.get(file) ?? []) visit(next, [...path, file]);
    };
    for (const file of http) visit(file, []);
    expect(cycles).toEqual([]);
  });
});
