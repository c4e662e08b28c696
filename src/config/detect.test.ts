import { describe, expect, it } from 'vitest';
import { type ConfigError, parseConfig } from './load.js';

// The configuration's own ${NAME} reference syntax, not a template literal.
const TOKEN_REF = '$' + '{LOKI_TOKEN}';

const base = (loki: unknown) =>
  JSON.stringify({ auth: { webhook: { bearer: 'webhook-token-0123456789' } }, jails: {}, detect: { loki } });

function problems(loki: unknown, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(base(loki), env);
    return [];
  } catch (error) {
    return (error as ConfigError).problems;
  }
}

describe('detect.loki', () => {
  it('takes the shape the issue prescribes, with secrets from the environment and defaults for tuning', () => {
    const config = parseConfig(
      base({
        url: 'https://loki:3100',
        tenant: 'fake',
        auth: { bearer: TOKEN_REF },
        tls: { ca: './loki-ca.pem' },
      }),
      { LOKI_TOKEN: 'tok' },
    );
    expect(config.detect?.loki).toEqual({
      url: 'https://loki:3100',
      tenant: 'fake',
      auth: { bearer: 'tok' },
      tls: { ca: './loki-ca.pem' },
      maxTracked: 100_000,
      retryMin: 1,
      retryMax: 30,
    });
    expect(
      parseConfig(base({ url: 'http://loki:3100', auth: { basic: { username: 'u', password: 'p' } } }), {})
        .detect?.loki?.auth,
    ).toEqual({ basic: { username: 'u', password: 'p' } });
  });

  it('names the path and the reason of every problem', () => {
    expect(problems({})).toEqual([expect.stringMatching(/^detect\.loki\.url: /)]);
    expect(problems({ url: 'http://user:secret@loki:3100' })).toEqual([
      'detect.loki.url: put credentials in auth, not in the URL (it is logged)',
    ]);
    expect(problems({ url: 'http://loki:3100', tls: { ca: 'ca.pem' } })).toEqual([
      'detect.loki.tls: tls.ca needs an https:// url',
    ]);
    expect(
      problems({ url: 'http://loki:3100', auth: { bearer: 't', basic: { username: 'u', password: 'p' } } }),
    ).toHaveLength(1);
    expect(problems({ url: 'http://loki:3100', tenant: 'a|b' })[0]).toMatch(/^detect\.loki\.tenant: /);
    expect(problems({ url: 'http://loki:3100', retryMin: 60, retryMax: 10 })).toEqual([
      'detect.loki: retryMin must not exceed retryMax',
    ]);
    expect(problems({ url: 'http://loki:3100', maxTracked: 10 })[0]).toMatch(/^detect\.loki\.maxTracked: /);
    expect(problems({ url: 'http://loki:3100', since: '1h' })).toEqual(['detect.loki: unknown key "since"']);
    expect(problems({ url: 'http://loki:3100', auth: { bearer: TOKEN_REF } })).toEqual([
      'detect.loki.auth.bearer: environment variable LOKI_TOKEN is not set (nor LOKI_TOKEN_FILE)',
    ]);
  });
});
