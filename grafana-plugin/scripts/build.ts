/**
 * Builds both plugins the way Grafana loads them: one AMD `module.js` per plugin whose shared
 * libraries (React, @grafana/*, @emotion/css, rxjs) are left as AMD dependencies, because Grafana
 * hands its own instances to plugins and a second React copy would break hooks.
 */
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string };

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

const plugins = [
  { id: 'lokiban-bans-panel', dir: 'panel' },
  { id: 'lokiban-responder-datasource', dir: 'datasource' },
];

await rm(join(root, 'dist'), { recursive: true, force: true });
const updated = new Date().toISOString().slice(0, 10);

for (const plugin of plugins) {
  const outDir = join(root, 'dist', plugin.id);
  await build({
    root,
    configFile: false,
    logLevel: 'warn',
    esbuild: { jsx: 'transform', jsxFactory: 'React.createElement', jsxFragment: 'React.Fragment' },
    build: {
      outDir,
      emptyOutDir: true,
      sourcemap: true,
      minify: true,
      // es2022 keeps class fields native: lowered ones need helpers that esbuild emits outside the AMD
      // wrapper, i.e. as globals of the page, where another plugin could overwrite them.
      target: 'es2022',
      modulePreload: false,
      copyPublicDir: false,
      rollupOptions: {
        input: join(root, 'src', plugin.dir, 'module.ts'),
        external: isExternal,
        preserveEntrySignatures: 'exports-only',
        output: { format: 'amd', entryFileNames: 'module.js', inlineDynamicImports: true },
      },
    },
  });
  const manifest = JSON.parse(await readFile(join(root, 'src', plugin.dir, 'plugin.json'), 'utf8'));
  manifest.info.version = pkg.version;
  manifest.info.updated = updated;
  await writeFile(join(outDir, 'plugin.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  await mkdir(join(outDir, 'img'), { recursive: true });
  await cp(join(root, 'img', 'logo.svg'), join(outDir, 'img', 'logo.svg'));
  await cp(join(root, 'README.md'), join(outDir, 'README.md'));
  await cp(join(root, 'CHANGELOG.md'), join(outDir, 'CHANGELOG.md'));
}
