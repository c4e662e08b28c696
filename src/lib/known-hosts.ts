/** Why a known_hosts marker cannot make a pin, or undefined for a line without one. */
export function hostKeyMarkerError(text: string): string | undefined {
  const marker = /^@(\S*)/.exec(text.trim())?.[1];
  if (marker === undefined) return undefined;
  if (marker === 'revoked')
    return 'a @revoked known_hosts line names a key that must never be trusted; pin the host’s current key';
  if (marker === 'cert-authority')
    return 'a @cert-authority line names a CA, and host certificates are not supported; pin the host’s own key';
  return `unknown known_hosts marker "@${marker}"`;
}
