import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where `lokiban hosts setup` installs the helper unless a host names another path. */
export const NFT_HELPER_PATH = '/usr/local/libexec/lokiban-nft';

/** Bumped with every change to host-tools/lokiban-nft, so setup replaces an older copy. */
export const NFT_HELPER_VERSION = '1';

/** `host-tools/` of this installation: three levels above `src/enforce/backends` and `dist/…` alike. */
const SCRIPT = join(
  resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..'),
  'host-tools',
  'lokiban-nft',
);

export function nftHelperScript(): string {
  const text = readFileSync(SCRIPT, 'utf8');
  if (!text.includes(`\nVERSION=${NFT_HELPER_VERSION}\n`)) {
    throw new Error(`${SCRIPT} is not version ${NFT_HELPER_VERSION} of the helper`);
  }
  return text;
}
