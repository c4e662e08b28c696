import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PLUGIN_ROOT, REPO_ROOT } from '../scripts/layout';

/**
 * Builds the plugins and their archive once (`npm run package`), before any test file runs: the browser test and the
 * package test read dist/, and two builds racing over it would delete each other's files.
 */
export default async function setup() {
  for (const script of ['scripts/build.ts', 'scripts/archive.ts']) {
    await promisify(execFile)(process.execPath, [join(REPO_ROOT, 'node_modules/tsx/dist/cli.mjs'), script], {
      cwd: PLUGIN_ROOT,
    });
  }
}
