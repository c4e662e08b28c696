import { resolve } from 'node:path';
import { build } from 'esbuild';

/**
 * Bundles the harness page (with real React and @grafana packages) into `outDir`/harness.js.
 * esbuild rather than Rollup: the harness bundles all of @grafana/ui and must build in seconds.
 */
export async function buildHarness(outDir: string): Promise<void> {
  await build({
    entryPoints: [resolve(import.meta.dirname, 'main.tsx')],
    outfile: resolve(outDir, 'harness.js'),
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2022',
    jsx: 'transform',
    jsxFactory: 'React.createElement',
    jsxFragment: 'React.Fragment',
    define: { 'process.env.NODE_ENV': '"production"', global: 'globalThis' },
    loader: { '.ttf': 'file', '.woff': 'file', '.woff2': 'file', '.svg': 'file', '.png': 'file' },
    logLevel: 'error',
  });
}
