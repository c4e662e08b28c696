// @vitest-environment node
/**
 * The built app as the plugin catalog receives it (test/global-setup.ts runs build.ts and archive.ts):
 * every plugin.json valid against Grafana's plugin.schema.json, LICENSE and screenshots in every
 * plugin folder, one floor for all, and an archive whose single top folder is the app's id.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { floorVersion } from './grafana-floor';
import {
  APP_DIST,
  APP_ID,
  DATASOURCE_ID,
  DIST,
  distDir,
  PANEL_ID,
  PLUGIN_ROOT,
  PLUGINS,
  REPO_ROOT,
  SCREENSHOTS,
} from './layout';

const json = (path: string) => JSON.parse(readFileSync(path, 'utf8'));
const pkg = json(join(PLUGIN_ROOT, 'package.json')) as { version: string };

/**
 * Grafana's schema for plugin.json, as the plugin validator of the catalog uses it
 * (grafana/plugin-validator config/plugin.schema.json, Apache-2.0, commit 0c58a478).
 */
function schemaValidator() {
  // The schema's patterns escape `-` (`\-`), which unicode-mode regexps reject; Grafana's validator
  // is written in Go, whose regexps accept it.
  const ajv = new Ajv({ allErrors: true, strict: false, unicodeRegExp: false });
  addFormats.default(ajv);
  return ajv.compile(json(join(PLUGIN_ROOT, 'test', 'plugin.schema.json')));
}

function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => statSync(join(dir, name)).isFile())
    .sort();
}

describe('plugin package', () => {
  const validate = schemaValidator();

  it('validates every built plugin.json against Grafana’s plugin.schema.json', () => {
    for (const plugin of PLUGINS) {
      const manifest = json(join(distDir(plugin.id), 'plugin.json'));
      const valid = validate(manifest);
      expect(validate.errors ?? [], `${plugin.id}: ${JSON.stringify(validate.errors)}`).toEqual([]);
      expect(valid).toBe(true);
      expect(manifest.id).toBe(plugin.id);
      expect(manifest.info.version).toBe(pkg.version);
      expect(manifest.info.updated).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    }
  });

  it('the schema rejects what the catalog would reject', () => {
    const manifest = json(join(distDir(PANEL_ID), 'plugin.json'));
    expect(validate({ ...manifest, id: 'Lokiban Bans' })).toBe(false);
    expect(
      validate({ ...manifest, info: { ...manifest.info, links: [{ name: 'x', url: 'not a uri' }] } }),
    ).toBe(false);
    expect(validate({ ...manifest, dependencies: {} })).toBe(false);
  });

  it('declares one Grafana floor, the one scripts/grafana-floor.ts checks, in source and build', () => {
    for (const plugin of PLUGINS) {
      const source = json(join(PLUGIN_ROOT, 'src', plugin.source, 'plugin.json'));
      const built = json(join(distDir(plugin.id), 'plugin.json'));
      expect(source.dependencies.grafanaDependency).toBe(`>=${floorVersion()}`);
      expect(built.dependencies.grafanaDependency).toBe(`>=${floorVersion()}`);
    }
  });

  it('links the repository, the docs and the license, with the author’s URL', () => {
    for (const plugin of PLUGINS) {
      const { info } = json(join(distDir(plugin.id), 'plugin.json'));
      expect(info.author.url).toMatch(/^https:\/\//);
      expect(info.links.map((link: { name: string }) => link.name)).toEqual([
        'Repository',
        'Documentation',
        'License (Apache-2.0)',
      ]);
    }
  });

  it('puts LICENSE, README, CHANGELOG and the logo into every plugin folder', () => {
    const license = readFileSync(join(REPO_ROOT, 'LICENSE'), 'utf8');
    expect(license).toContain('Apache License');
    expect(license).toContain('Version 2.0, January 2004');
    for (const plugin of PLUGINS) {
      expect(readFileSync(join(distDir(plugin.id), 'LICENSE'), 'utf8')).toBe(license);
      for (const file of ['README.md', 'CHANGELOG.md', 'img/logo.svg', 'module.js']) {
        expect(statSync(join(distDir(plugin.id), file)).size, `${plugin.id}/${file}`).toBeGreaterThan(0);
      }
    }
  });

  it('ships the current screenshots with the app and the panel, each one a PNG', () => {
    for (const id of [APP_ID, PANEL_ID]) {
      const { info } = json(join(distDir(id), 'plugin.json'));
      expect(info.screenshots.map((shot: { path: string }) => shot.path)).toEqual(
        SCREENSHOTS.map((shot) => `img/${shot.file}`),
      );
      for (const shot of info.screenshots as Array<{ path: string }>) {
        const bytes = readFileSync(join(distDir(id), shot.path));
        expect(bytes.subarray(1, 4).toString('latin1'), shot.path).toBe('PNG');
      }
    }
    expect(json(join(distDir(DATASOURCE_ID), 'plugin.json')).info.screenshots).toEqual([]);
  });

  it('nests the panel and the datasource in the app, which includes them and its dashboards', () => {
    const app = json(join(APP_DIST, 'plugin.json'));
    const includes = app.includes as Array<{ type: string; name: string; path?: string; uid?: string }>;
    const nested = PLUGINS.filter((plugin) => plugin.nested).map((plugin) =>
      json(join(distDir(plugin.id), 'plugin.json')),
    );
    for (const child of nested) {
      expect(includes).toContainEqual(expect.objectContaining({ type: child.type, name: child.name }));
    }
    for (const dashboard of includes.filter((include) => include.type === 'dashboard')) {
      expect(json(join(APP_DIST, dashboard.path!)).uid).toBe(dashboard.uid);
    }
  });

  it('archives the app as one zip with the app id as its only top folder, CRCs intact', async () => {
    const archive = join(DIST, `${APP_ID}-${pkg.version}.zip`);
    const { stdout: test } = await promisify(execFile)('python3', ['-m', 'zipfile', '-t', archive]);
    expect(test).toContain('Done testing');
    const { stdout: listing } = await promisify(execFile)('python3', [
      '-c',
      'import sys, zipfile; print("\\n".join(zipfile.ZipFile(sys.argv[1]).namelist()))',
      archive,
    ]);
    const names = listing.trim().split('\n');
    expect(names).toEqual(
      files(APP_DIST).map((name) => `${APP_ID}/${relative(APP_DIST, join(APP_DIST, name))}`),
    );
    expect(readFileSync(`${archive}.sha1`, 'utf8')).toMatch(new RegExp(`^[0-9a-f]{40}  ${APP_ID}-`));
  });
});
