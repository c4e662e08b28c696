import type { ApiBan } from './api-types';
import type { JailLogs } from './logs-link';

/**
 * What the bans panel calls on the lokiban datasource. The two plugins are separate bundles, so
 * the panel recognises the datasource by this shape instead of by class.
 */
export interface LokibanResponderApi {
  readonly lokibanResponder: true;
  history(ip: string): Promise<ApiBan[]>;
  /** Each jail's findtime and, when the responder publishes it, its log query. */
  jails(): Promise<JailLogs[]>;
  unban(ip: string, jail?: string): Promise<ApiBan[]>;
  /** Sets the ban to end `duration` from now (`1h`, `1d`, `-1` permanent); never shortens it. */
  extend(ip: string, jail: string, duration: string): Promise<ApiBan>;
}

export function isResponderApi(value: unknown): value is LokibanResponderApi {
  const candidate = value as Partial<LokibanResponderApi> | null | undefined;
  return (
    candidate?.lokibanResponder === true &&
    typeof candidate.unban === 'function' &&
    typeof candidate.extend === 'function' &&
    typeof candidate.history === 'function' &&
    typeof candidate.jails === 'function'
  );
}
