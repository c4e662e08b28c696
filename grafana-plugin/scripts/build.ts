/**
 * Builds the lokiban app plugin the way Grafana loads it: `dist/lokiban-app/` with the app's own
 * module and, nested inside, the bans panel and the responder datasource, each one AMD `module.js`
 * whose shared libraries (React, @grafana/*, @emotion/css, rxjs) are left as AMD dependencies,
 * because Grafana hands its own instances to plugins and a second React copy would break hooks.
 * scripts/archive.ts then zips it (after `npm run sign`, for a signed release).
 */
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'vite';
import { floorVersion } from './grafana-floor';
import {
  APP_DIST,
  APP_ID,
  DIST,
  distDir,
  PANEL_ID,
  PLUGIN_ROOT,
  PLUGINS,
  REPO_ROOT,
  SCREENSHOTS,
  SCREENSHOTS_DIR,
} from './layout';

const pkg = JSON.parse(await readFile(join(PLUGIN_ROOT, 'package.json'), 'utf8')) as {
  version: string;
  homepage: string;
  repository: { url: string };
};

/** Module ids Grafana's loader provides to plugins; everything else is bundled. */
export const EXTERNALS = [
  'react',
  'react-dom',
  '@grafana/data',
  '@grafana/ui',
  '@grafana/runtime',
  '@emotion/css',
  'rxjs',
];
const isExternal = (id: string) => EXTERNALS.some((name) => id === name || id.startsWith(`${name}/`));

/** Plugins that show the screenshots on their catalog and plugin pages. */
const WITH_SCREENSHOTS = new Set([APP_ID, PANEL_ID]);

await rm(DIST, { recursive: true, force: true });
const updated = new Date().toISOString().slice(0, 10);
const repository = pkg.repository.url.replace(/^git\+/, '').replace(/\.git$/, '');

for (const plugin of PLUGINS) {
  const outDir = distDir(plugin.id);
  await build({
    root: PLUGIN_ROOT,
    configFile: false,
    logLevel: 'warn',
    esbuild: { jsx: 'transform', jsxFactory: 'React.createElement', jsxFragment: 'React.Fragment' },
    build: {
      outDir,
      // The app's folder also holds the nested plugins, built before or after it.
      emptyOutDir: false,
      sourcemap: true,
      minify: true,
      // es2022 keeps class fields native: lowered ones need helpers that esbuild emits outside the AMD
      // wrapper, i.e. as globals of the page, where another plugin could overwrite them.
      target: 'es2022',
      modulePreload: false,
      copyPublicDir: false,
      rollupOptions: {
        input: join(PLUGIN_ROOT, 'src', plugin.source, 'module.ts'),
        external: isExternal,
        preserveEntrySignatures: 'exports-only',
        output: { format: 'amd', entryFileNames: 'module.js', inlineDynamicImports: true },
      },
    },
  });
  const manifest = JSON.parse(await readFile(join(PLUGIN_ROOT, 'src', plugin.source, 'plugin.json'), 'utf8'));
  manifest.info.version = pkg.version;
  manifest.info.updated = updated;
  manifest.info.author = { ...manifest.info.author, url: pkg.homepage };
  manifest.info.links = [
    { name: 'Repository', url: repository },
    { name: 'Documentation', url: `${repository}/blob/main/docs/grafana.md` },
    { name: 'License (Apache-2.0)', url: `${repository}/blob/main/LICENSE` },
  ];
  manifest.info.screenshots = WITH_SCREENSHOTS.has(plugin.id)
    ? SCREENSHOTS.map((shot) => ({ name: shot.name, path: `img/${shot.file}` }))
    : [];
  // One floor for every plugin, the version scripts/grafana-floor.ts checks against.
  manifest.dependencies.grafanaDependency = `>=${floorVersion()}`;
  await writeFile(join(outDir, 'plugin.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  await mkdir(join(outDir, 'img'), { recursive: true });
  await cp(join(PLUGIN_ROOT, 'img', 'logo.svg'), join(outDir, 'img', 'logo.svg'));
  for (const shot of WITH_SCREENSHOTS.has(plugin.id) ? SCREENSHOTS : []) {
    await cp(join(SCREENSHOTS_DIR, shot.file), join(outDir, 'img', shot.file));
  }
  await cp(join(PLUGIN_ROOT, 'README.md'), join(outDir, 'README.md'));
  await cp(join(PLUGIN_ROOT, 'CHANGELOG.md'), join(outDir, 'CHANGELOG.md'));
  await cp(join(REPO_ROOT, 'LICENSE'), join(outDir, 'LICENSE'));
}

// Dashboards the app imports when it is enabled (plugin.json `includes`).
await cp(join(PLUGIN_ROOT, 'provisioning', 'dashboards'), join(APP_DIST, 'dashboards'), {
  recursive: true,
  filter: (source) => !source.endsWith('.yaml'),
});
