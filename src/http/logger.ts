import type { Config } from '../config/load.js';

/**
 * Paths pino replaces with "[redacted]". Requests are logged without headers by default; these are
 * the belt to those braces, for any code that logs a request, a header set or a config object.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-grafana-alerting-signature"]',
  'headers.authorization',
  'headers["x-grafana-alerting-signature"]',
  '*.token',
  '*.password',
  '*.secret',
  '*.bearer',
  '*.privateKey',
  'config.auth',
  // A logged auth section ({ auth: config.auth }). Not a bare 'auth': the webhook log line's `auth`
  // names the method that authenticated the delivery (bearer, basic, hmac), which operators need.
  'auth.webhook',
  'auth.api',
];

export interface LoggerOptions {
  level: string;
  redact: { paths: string[]; censor: string };
}

export function loggerOptions(config: Pick<Config, 'logging'>): LoggerOptions {
  return {
    level: config.logging.level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
}
