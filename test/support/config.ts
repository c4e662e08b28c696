import { type Config, parseConfig } from '../../src/config/load.js';

export const WEBHOOK_TOKEN = 'webhook-token-0123456789abcdef';
export const READ_TOKEN = 'read-token-0123456789abcdef';
export const ADMIN_TOKEN = 'admin-token-0123456789abcdef';
export const BASIC_PASSWORD = 'basic-password-0123456789';
export const HMAC_SECRET = 'hmac-secret-0123456789abcdef';

/** A complete configuration as an operator would write it; `extra` YAML is appended verbatim. */
export function testConfigYaml(
  options: { store?: string; extra?: string; webhook?: string; bodyLimit?: number | 'default' } = {},
): string {
  const bodyLimit = options.bodyLimit === 'default' ? '' : `, bodyLimit: ${options.bodyLimit ?? 65536}`;
  return `
server: { listen: "127.0.0.1:0"${bodyLimit} }
store: ${options.store ?? '{ sqlite: ":memory:" }'}
auth:
  webhook: ${options.webhook ?? `{ bearer: "${WEBHOOK_TOKEN}" }`}
  api:
    tokens:
      - { name: grafana, token: "${READ_TOKEN}", role: read }
      - { name: ops, token: "${ADMIN_TOKEN}", role: admin }
defaults:
  bantime: 10m
  ipv6prefix: 64
jails:
  sshd: { maxretry: 5, findtime: 10m, bantime: 1h }
  nginx-http-auth: { maxretry: 5, findtime: 10m, ipv6prefix: 128 }
  postfix-sasl: { enabled: false }
transport: dry-run
hosts:
  - { name: web1, address: 192.0.2.10, match: { host: web1 } }
  - { name: web2, address: 192.0.2.11, match: { host: web2 } }
${options.extra ?? ''}
`;
}

export function testConfig(options: Parameters<typeof testConfigYaml>[0] = {}): Config {
  return parseConfig(testConfigYaml(options), {});
}
