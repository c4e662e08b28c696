import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from './load.js';

const env = { LOKIBAN_WEBHOOK_TOKEN: 'webhook-token-0123456789', LOKI_TOKEN: 'loki-token-0123456789abcdef' };

const base = `
auth:
  webhook: { bearer: "\${LOKIBAN_WEBHOOK_TOKEN}" }
jails:
  sshd: {}
`;

function problemsOf(text: string): string[] {
  try {
    parseConfig(text, env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected the configuration to be rejected');
}

describe('audit.loki', () => {
  it('is off unless configured', () => {
    expect(parseConfig(base, env).audit).toBeUndefined();
  });

  it('fills safe defaults and takes the token from the environment', () => {
    const config = parseConfig(
      `${base}audit:\n  loki: { url: "http://loki:3100", bearer: "\${LOKI_TOKEN}" }\n`,
      env,
    );
    expect(config.audit?.loki).toEqual({
      url: 'http://loki:3100',
      bearer: env.LOKI_TOKEN,
      labels: {},
      events: ['ban', 'extend', 'unban'],
      batchSize: 500,
      flushInterval: 1,
      lookback: 3600,
      retryMin: 1,
      retryMax: 60,
      timeout: 10,
    });
  });

  it('names what is wrong', () => {
    const problems = problemsOf(
      `${base}audit:\n  loki:\n    url: "ftp://loki"\n    tenant: "a|b"\n    labels: { job: x, "bad-name": y }\n    events: [ban, kick]\n    flushInterval: 0\n    extra: 1\n`,
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^audit\.loki\.url: /),
        expect.stringMatching(/^audit\.loki\.tenant: tenant ids are/),
        expect.stringMatching(/^audit\.loki\.labels/),
        expect.stringMatching(/^audit\.loki\.events\[1\]: /),
        expect.stringMatching(/^audit\.loki\.flushInterval: at least 1s/),
        expect.stringMatching(/^audit\.loki: unknown key "extra"/),
      ]),
    );
    expect(problemsOf(`${base}audit:\n  loki: { url: "http://loki:3100", labels: { stream: x } }\n`)).toEqual(
      [expect.stringMatching(/^audit\.loki\.labels: job and stream are fixed/)],
    );
    expect(
      problemsOf(
        `${base}audit:\n  loki: { url: "http://loki:3100", bearer: "\${LOKI_TOKEN}", basic: { username: u, password: "\${LOKI_TOKEN}" } }\n`,
      ),
    ).toEqual([expect.stringMatching(/^audit\.loki: configure bearer or basic, not both/)]);
    expect(problemsOf(`${base}audit:\n  loki: { url: "https://u:p@loki:3100" }\n`)).toEqual([
      expect.stringMatching(/^audit\.loki\.url: put credentials in basic or bearer/),
    ]);
    expect(problemsOf(`${base}audit:\n  loki: { url: "http://loki:3100", bearer: short }\n`)).toEqual([
      expect.stringMatching(/^audit\.loki\.bearer: secrets must be at least 16 characters/),
    ]);
  });
});
