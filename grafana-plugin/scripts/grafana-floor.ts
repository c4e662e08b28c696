/**
 * The compatibility floor: the oldest Grafana the plugins declare (`grafanaDependency`) and are
 * checked against. compat/package.json pins that version's @grafana/* packages (its lockfile pins
 * everything below them); they are installed in a scratch directory, never into the workspace, and:
 *
 * - the plugin sources are type-checked against them (tsc, the project's own compiler options);
 * - Grafana's levitate compares each package's exports as used by the plugins between the version the
 *   workspace builds with and the floor, reporting removed or changed APIs.
 *
 * `tsx scripts/grafana-floor.ts` runs both and exits non-zero on any finding; compat/floor.test.ts
 * runs them in the suite.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { COMPAT_DIR, PLUGIN_ROOT, PLUGINS, REPO_ROOT } from './layout';

const run = promisify(execFile);

/** The @grafana packages the plugins import; each is checked. */
export const GRAFANA_PACKAGES = ['@grafana/data', '@grafana/ui', '@grafana/runtime'] as const;

interface CompatManifest {
  dependencies: Record<string, string>;
}

function compatManifest(): CompatManifest {
  return JSON.parse(readFileSync(join(COMPAT_DIR, 'package.json'), 'utf8')) as CompatManifest;
}

/** The floor, e.g. `10.4.0`: the version of every @grafana package in compat/package.json. */
export function floorVersion(): string {
  const deps = compatManifest().dependencies;
  const versions = new Set(GRAFANA_PACKAGES.map((name) => deps[name]));
  if (versions.size !== 1 || versions.has(undefined)) {
    throw new Error(`compat/package.json must pin ${GRAFANA_PACKAGES.join(', ')} to one version`);
  }
  return [...versions][0]!;
}

/**
 * Installs compat/ (`npm ci`, no install scripts) into a scratch directory keyed by its lockfile, and
 * returns that directory. A second call with the same lockfile reuses the install.
 */
export async function installFloor(): Promise<string> {
  const lock = readFileSync(join(COMPAT_DIR, 'package-lock.json'));
  const key = createHash('sha256')
    .update(readFileSync(join(COMPAT_DIR, 'package.json')))
    .update(lock)
    .digest('hex')
    .slice(0, 12);
  const root = process.env.LOKIBAN_GRAFANA_FLOOR_DIR ?? join(tmpdir(), 'lokiban-grafana-floor');
  const dir = join(root, `${floorVersion()}-${key}`);
  const marker = join(dir, '.installed');
  if (existsSync(marker)) return dir;
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await copyFile(join(COMPAT_DIR, 'package.json'), join(dir, 'package.json'));
  await copyFile(join(COMPAT_DIR, 'package-lock.json'), join(dir, 'package-lock.json'));
  await run('npm', ['ci', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd: dir,
    maxBuffer: 16 * 1024 * 1024,
  });
  await writeFile(marker, `${new Date().toISOString()}\n`);
  return dir;
}

/** Source files Grafana loads (no tests, no build scripts). */
const SOURCES = ['src/**/*.ts', 'src/**/*.tsx'];
const NOT_SHIPPED = ['src/**/*.test.ts', 'src/**/*.test.tsx'];

/**
 * Type-checks the plugin sources with @grafana/*, React and their types resolved from the floor's
 * install instead of the workspace. Returns tsc's diagnostics ('' when there are none).
 */
export async function typecheckAgainstFloor(floorDir: string): Promise<string> {
  const modules = join(floorDir, 'node_modules');
  const tsconfig = {
    extends: join(PLUGIN_ROOT, 'tsconfig.json'),
    compilerOptions: {
      noEmit: true,
      types: [],
      typeRoots: [join(modules, '@types')],
      paths: Object.fromEntries(
        [...GRAFANA_PACKAGES, '@grafana/schema', '@emotion/css', 'rxjs']
          .map((name) => [name, [join(modules, name)]])
          .concat([
            ['react', [join(modules, '@types', 'react')]],
            ['react-dom', [join(modules, '@types', 'react-dom')]],
            ['react-dom/client', [join(modules, '@types', 'react-dom', 'client')]],
          ]),
      ),
    },
    include: SOURCES.map((pattern) => join(PLUGIN_ROOT, pattern)),
    exclude: NOT_SHIPPED.map((pattern) => join(PLUGIN_ROOT, pattern)),
  };
  const configPath = join(floorDir, 'tsconfig.floor.json');
  await writeFile(configPath, JSON.stringify(tsconfig, null, 2));
  try {
    await run(process.execPath, [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', configPath], {
      cwd: floorDir,
      maxBuffer: 16 * 1024 * 1024,
    });
    return '';
  } catch (error) {
    const failure = error as { stdout?: string; stderr?: string; message: string };
    return `${failure.stdout ?? ''}${failure.stderr ?? ''}` || failure.message;
  }
}

export interface Incompatibility {
  package: string;
  /** The export, e.g. `PanelPlugin.setPanelOptions`. */
  name: string;
  kind: 'removed' | 'changed';
  file: string;
}

/** A levitate finding that was read and found harmless, with the reason. */
export interface ReviewedFinding {
  package: string;
  name: string;
  reason: string;
}

export function reviewedFindings(): ReviewedFinding[] {
  return JSON.parse(readFileSync(join(COMPAT_DIR, 'levitate-reviewed.json'), 'utf8')) as ReviewedFinding[];
}

function typesEntry(packageDir: string): string {
  const manifest = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as {
    types?: string;
    typings?: string;
  };
  return join(packageDir, manifest.types ?? manifest.typings ?? 'index.d.ts');
}

/**
 * Grafana's levitate, through its library API: for each package, the exports the plugins use (from
 * the version the workspace builds with) that the floor's version removed or changed.
 */
export async function levitateAgainstFloor(floorDir: string): Promise<Incompatibility[]> {
  const dist = join(floorDir, 'node_modules', '@grafana', 'levitate', 'dist');
  const levitate = (await import(pathToFileURL(join(dist, 'index.js')).href)) as LevitateApi;
  const { getExportInfo } = (await import(pathToFileURL(join(dist, 'compiler', 'exports.js')).href)) as {
    getExportInfo: LevitateApi['getExportInfo'];
  };
  // One program for all plugins: an entry that imports each module.ts.
  const entry = join(floorDir, 'plugins-entry.ts');
  await writeFile(
    entry,
    PLUGINS.map((plugin) => `import '${join(PLUGIN_ROOT, 'src', plugin.source, 'module')}';\n`).join(''),
  );
  const program = levitate.createTsProgram(entry);
  const found: Incompatibility[] = [];
  for (const name of GRAFANA_PACKAGES) {
    const current = typesEntry(join(REPO_ROOT, 'node_modules', name));
    const floor = typesEntry(join(floorDir, 'node_modules', name));
    const comparison = levitate.compareExports(current, floor, { additions: [], removals: [], changes: [] });
    const usages = levitate.getPackageUsage(program, getExportInfo(current), name);
    for (const [sourceFile, used] of usages) {
      for (const item of levitate.getIncompatibilitiesFromComparison({
        sourceFile,
        usages: used,
        comparison,
      })) {
        found.push({
          package: name,
          name: item.name,
          kind: item.removal ? 'removed' : 'changed',
          file: sourceFile.fileName.replace(`${PLUGIN_ROOT}/`, ''),
        });
      }
    }
  }
  return found;
}

interface LevitateApi {
  createTsProgram(fileName: string): unknown;
  compareExports(
    from: string,
    to: string,
    ignored: { additions: string[]; removals: string[]; changes: string[] },
  ): unknown;
  getExportInfo(path: string): unknown;
  getPackageUsage(
    program: unknown,
    exports: unknown,
    packageName: string,
  ): Map<{ fileName: string }, unknown>;
  getIncompatibilitiesFromComparison(input: {
    sourceFile: { fileName: string };
    usages: unknown;
    comparison: unknown;
  }): Array<{ name: string; removal?: unknown; change?: unknown }>;
}

/** Findings not yet reviewed, and reviewed ones that no longer occur (the review list must stay true). */
export function unexplained(found: Incompatibility[], reviewed: ReviewedFinding[]) {
  const key = (item: { package: string; name: string }) => `${item.package} ${item.name}`;
  const reviewedKeys = new Set(reviewed.map(key));
  const foundKeys = new Set(found.map(key));
  return {
    unreviewed: found.filter((item) => !reviewedKeys.has(key(item))),
    stale: reviewed.filter((item) => !foundKeys.has(key(item))),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const started = Date.now();
  const dir = await installFloor();
  console.log(`Grafana ${floorVersion()} packages in ${dir}`);
  const diagnostics = await typecheckAgainstFloor(dir);
  console.log(diagnostics ? `tsc against the floor:\n${diagnostics}` : 'tsc against the floor: no errors');
  const { unreviewed, stale } = unexplained(await levitateAgainstFloor(dir), reviewedFindings());
  for (const item of unreviewed)
    console.log(`levitate: ${item.kind} ${item.package} ${item.name} (${item.file})`);
  for (const item of stale)
    console.log(`levitate: reviewed finding no longer reported: ${item.package} ${item.name}`);
  console.log(`done in ${Math.round((Date.now() - started) / 1000)} s`);
  if (diagnostics || unreviewed.length > 0 || stale.length > 0) process.exit(1);
}
