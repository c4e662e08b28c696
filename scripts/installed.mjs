// What the install scripts need to know about node_modules, without reinstalling anything:
//   node scripts/installed.mjs check            exit 0 when node_modules is what package-lock.json
//                                               describes and every compiled addon in it loads in
//                                               the Node running this script; 1 (with the reason) if not
//   node scripts/installed.mjs addons           the same for the compiled addons alone
//   node scripts/installed.mjs native-packages  the installed packages that compile an addon
//                                               (a binding.gyp), one name a line
// Run from the checkout's root.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

function readPackages(file) {
  return JSON.parse(readFileSync(file, 'utf8')).packages;
}

/** Files under `dir` (not descending into nested node_modules) whose name satisfies `wanted`. */
function findFiles(dir, wanted) {
  const found = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory() && entry.name !== 'node_modules') found.push(...findFiles(path, wanted));
    else if (entry.isFile() && wanted(entry.name)) found.push(path);
  }
  return found;
}

/** Lock paths (`node_modules/better-sqlite3`) of installed packages that compile an addon. */
function nativePackages(installed) {
  return Object.keys(installed).filter(
    (path) =>
      installed[path].hasInstallScript &&
      existsSync(path) &&
      findFiles(path, (name) => name === 'binding.gyp').length > 0,
  );
}

/** Why node_modules does not match the lockfile, or undefined when it does. */
function lockMismatch(lock, installed) {
  for (const [path, entry] of Object.entries(lock)) {
    if (path === '') continue;
    const present = installed[path];
    // Optional packages for other platforms (esbuild's, for instance) are rightly absent.
    if (!present) {
      if (entry.optional) continue;
      return `${path} is not installed`;
    }
    if (present.version !== entry.version || present.integrity !== entry.integrity)
      return `${path} is not the version package-lock.json names`;
  }
  const extra = Object.keys(installed).find((path) => !(path in lock));
  return extra ? `${extra} is not in package-lock.json` : undefined;
}

// An addon compiled against Node 24.19+ headers carries node::ObjectWrap's cleanup hook, whose
// removal aborts Node 24 during garbage collection (nodejs/node#65446; scripts/rebuild-addons.sh).
const OBJECT_WRAP_CLEANUP_HOOK = '_ZN4node10ObjectWrap11CleanupHookEPv';

/** Why a compiled addon does not load (or not safely) in this Node, or undefined when every one does. */
function addonMismatch(installed) {
  for (const path of nativePackages(installed)) {
    for (const addon of findFiles(path, (name) => name.endsWith('.node'))) {
      if (process.versions.node.startsWith('24.') && readFileSync(addon).includes(OBJECT_WRAP_CLEANUP_HOOK))
        return `${addon} was compiled against Node 24.19+ headers and aborts Node 24: run bash scripts/rebuild-addons.sh`;
      try {
        process.dlopen({ exports: {} }, join(process.cwd(), addon));
      } catch (error) {
        // A plain shared library shipped beside the addon (better-sqlite3's SQLite test extension)
        // loads but registers no module: it was not built for any Node, so it is not stale.
        if (!String(error.message).includes('did not self-register'))
          return `${addon} does not load in Node ${process.version}: ${error.message.split('\n')[0]}`;
      }
    }
  }
  return undefined;
}

/** Exits 1 printing `reason` when there is one. */
function refuseIf(reason) {
  if (!reason) return;
  console.log(reason);
  process.exit(1);
}

const command = process.argv[2];
const hidden = join('node_modules', '.package-lock.json');
if (!['check', 'addons', 'native-packages'].includes(command)) {
  console.error('usage: node scripts/installed.mjs check | addons | native-packages');
  process.exit(2);
}
refuseIf(existsSync(hidden) ? undefined : 'node_modules is not installed');
const installed = readPackages(hidden);
if (command === 'check')
  refuseIf(lockMismatch(readPackages('package-lock.json'), installed) ?? addonMismatch(installed));
else if (command === 'addons') refuseIf(addonMismatch(installed));
else for (const path of nativePackages(installed)) console.log(path.replace(/^.*node_modules\//, ''));
