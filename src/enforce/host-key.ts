import { createHash } from 'node:crypto';
import { hostKeyMarkerError } from '../lib/known-hosts.js';

/** A pinned host key: either only its SHA256 fingerprint, or the full key from a known_hosts line. */
export interface HostKeyPin {
  fingerprint: string;
  /** Key type when the pin came from a known_hosts line (`ssh-ed25519`, …); used to ask for that key. */
  type?: string;
}

/** OpenSSH's fingerprint format: `SHA256:` + unpadded base64 of the SHA-256 of the key blob. */
export function fingerprintOf(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

/** The key type is the first length-prefixed string of the SSH wire-format key blob. */
export function keyTypeOf(keyBlob: Buffer): string {
  if (keyBlob.length < 4) return 'unknown';
  const length = keyBlob.readUInt32BE(0);
  return keyBlob.subarray(4, 4 + length).toString('latin1');
}

/**
 * Accepts `SHA256:…` (from `ssh-keyscan host | ssh-keygen -lf -`) or a known_hosts line
 * (`host ssh-ed25519 AAAA…`, optionally with a hashed host field, which is not consulted: the pin belongs
 * to the inventory entry it is written in). Lines marked `@revoked` or `@cert-authority` are refused:
 * taking their key as a pin would trust exactly what the line says not to trust.
 */
export function parseHostKeyPin(text: string): HostKeyPin {
  const value = text.trim();
  const fp = /^SHA256:([A-Za-z0-9+/]{43})=?$/.exec(value);
  if (fp) return { fingerprint: `SHA256:${fp[1]}` };
  const markerError = hostKeyMarkerError(value);
  if (markerError) throw new Error(`hostKey: ${markerError}`);
  const fields = value.split(/\s+/);
  const typeIndex = fields.findIndex((f) => /^(ssh-|ecdsa-|sk-)/.test(f));
  const base64 = typeIndex >= 0 ? fields[typeIndex + 1] : undefined;
  if (typeIndex < 0 || !base64 || !/^[A-Za-z0-9+/]+=*$/.test(base64)) {
    throw new Error('hostKey must be a "SHA256:…" fingerprint or a known_hosts line');
  }
  const blob = Buffer.from(base64, 'base64');
  const type = fields[typeIndex]!;
  if (keyTypeOf(blob) !== type) throw new Error(`hostKey: the key data is not a ${type} key`);
  return { fingerprint: fingerprintOf(blob), type };
}

/** Host key algorithms to ask the server for, so the negotiated key is the pinned one. */
export function hostKeyAlgorithms(pin: HostKeyPin): string[] {
  if (pin.type === 'ssh-rsa') return ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
  if (pin.type) return [pin.type];
  // A bare fingerprint does not say which key it is: prefer ed25519, the key the docs tell operators to pin.
  return [
    'ssh-ed25519',
    'ecdsa-sha2-nistp256',
    'ecdsa-sha2-nistp384',
    'ecdsa-sha2-nistp521',
    'rsa-sha2-512',
    'rsa-sha2-256',
  ];
}

export class HostKeyMismatchError extends Error {
  override name = 'HostKeyMismatchError';
  constructor(
    readonly host: string,
    readonly expected: string,
    readonly presented: string,
    readonly presentedType: string,
  ) {
    super(
      `host "${host}": host key mismatch, refusing to connect: pinned ${expected}, server presented ${presentedType} ${presented}. ` +
        'If the host was reinstalled, verify the new key out of band and update hostKey.',
    );
  }
}
