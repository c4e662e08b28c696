/**
 * Zips dist/lokiban-app (as built, and signed if `npm run sign` ran) into
 * dist/lokiban-app-<version>.zip with the app id as its only top folder, the form the plugin catalog
 * and `grafana cli --pluginUrl` take, and writes its SHA-1 beside it.
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { APP_DIST, APP_ID, DIST, PLUGIN_ROOT } from './layout';
import { zipDirectory } from './zip';

const { version } = JSON.parse(await readFile(join(PLUGIN_ROOT, 'package.json'), 'utf8')) as {
  version: string;
};
const name = `${APP_ID}-${version}.zip`;
const bytes = await zipDirectory(APP_DIST, APP_ID);
await writeFile(join(DIST, name), bytes);
const sha1 = createHash('sha1').update(bytes).digest('hex');
await writeFile(join(DIST, `${name}.sha1`), `${sha1}  ${name}\n`);
console.log(`dist/${name}: ${bytes.length} bytes, sha1 ${sha1}`);
