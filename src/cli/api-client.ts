import { CliError } from './io.js';

export const DEFAULT_URL = 'http://127.0.0.1:9797';

export interface ApiClientOptions {
  url: string;
  token: string | undefined;
  /** Milliseconds before a request is abandoned. */
  timeoutMs?: number;
}

/** A small client for the responder's API, turning HTTP failures into messages a user can act on. */
export class ApiClient {
  private readonly base: URL;

  constructor(private readonly options: ApiClientOptions) {
    try {
      this.base = new URL(options.url);
    } catch {
      throw new CliError(`invalid --url "${options.url}": expected e.g. ${DEFAULT_URL}`);
    }
    if (this.base.protocol !== 'http:' && this.base.protocol !== 'https:') {
      throw new CliError(`invalid --url "${options.url}": use http:// or https://`);
    }
  }

  async request<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
    if (!this.options.token) {
      throw new CliError('no API token: pass --token or set LOKIBAN_TOKEN (a token from auth.api.tokens)');
    }
    const url = new URL(
      path.replace(/^\//, ''),
      this.base.href.endsWith('/') ? this.base : `${this.base.href}/`,
    );
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: {
          authorization: `Bearer ${this.options.token}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const detail = cause?.code ?? cause?.message ?? (error as Error).message;
      throw new CliError(`cannot reach lokiban at ${this.base.origin}: ${detail}`);
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text.length > 0 ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!response.ok) {
      const message = (parsed as { message?: string } | undefined)?.message ?? response.statusText;
      const hint =
        response.status === 401
          ? ' (check --token / LOKIBAN_TOKEN)'
          : response.status === 403
            ? ' (this needs an admin token)'
            : '';
      throw new CliError(`${method} ${url.pathname} failed: HTTP ${response.status}: ${message}${hint}`);
    }
    return parsed as T;
  }
}
