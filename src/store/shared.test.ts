import { describe, expect, it } from 'vitest';
import { untilText } from '../domain/decide.js';
import { lookupCandidates, prefixKey } from './shared.js';

describe('lookupCandidates', () => {
  it('finds an address and every wider ban that can contain it', () => {
    const v4 = lookupCandidates('203.0.113.7');
    expect(v4[0]).toBe('203.0.113.7');
    expect(v4).toContain('203.0.113.0/24');
    expect(v4.at(-1)).toBe('203.0.0.0/16');
    expect(v4).toHaveLength(17);
    const v6 = lookupCandidates('2001:db8:1:2::99');
    expect(v6[0]).toBe('2001:db8:1:2::99');
    expect(v6).toContain('2001:db8:1:2::/64');
    expect(v6.at(-1)).toBe('2001:db8::/32');
  });

  it('canonicalises mapped and uncompressed forms, keeps CIDRs exact, rejects junk', () => {
    expect(lookupCandidates('::ffff:203.0.113.7')[0]).toBe('203.0.113.7');
    expect(lookupCandidates('2001:0db8:0000:0000:0000:0000:0000:0001')[0]).toBe('2001:db8::1');
    expect(lookupCandidates('203.0.113.9/24')).toEqual(['203.0.113.0/24']);
    expect(lookupCandidates('x')).toEqual([]);
  });
});

describe('prefixKey', () => {
  it('groups IPv4 by /24 and IPv6 by /64, leaving wider bans as they are', () => {
    expect(prefixKey('203.0.113.7')).toBe('203.0.113.0/24');
    expect(prefixKey('203.0.113.128/25')).toBe('203.0.113.0/24');
    expect(prefixKey('203.0.0.0/16')).toBe('203.0.0.0/16');
    expect(prefixKey('2001:db8:1:2:3::7')).toBe('2001:db8:1:2::/64');
    expect(prefixKey('2001:db8:1:2::/64')).toBe('2001:db8:1:2::/64');
    expect(prefixKey('2001:db8::/48')).toBe('2001:db8::/48');
  });
});

describe('untilText', () => {
  it('renders ISO time or permanent', () => {
    expect(untilText(0)).toBe('1970-01-01T00:00:00.000Z');
    expect(untilText(null)).toBe('permanent');
  });
});
