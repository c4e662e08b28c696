/** Credentials for the ruler or Grafana API; never printed. */
export type SyncAuth =
  | { kind: 'none' }
  | { kind: 'bearer'; token: string }
  | { kind: 'basic'; username: string; password: string };

export interface SyncEndpoint {
  /** Base URL, e.g. `http://loki:3100` or `https://grafana.example.com/` (a sub-path is kept). */
  url: string;
  auth: SyncAuth;
  /** Extra headers on every request (`X-Scope-OrgID`, `X-Grafana-Org-Id`). */
  headers?: Record<string, string>;
  timeoutMs?: number;
}

export interface SyncResponse {
  status: number;
  contentType: string;
  text: string;
}

/** A request the server refused or that never reached it; the message names the call and the answer. */
export class SyncError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'SyncError';
  }
}

/** Something lokiban's side lacks (a secret in its environment): no request was made for it. */
export class SyncSetupError extends SyncError {
  constructor(message: string) {
    super(message);
    this.name = 'SyncSetupError';
  }
}

const MAX_ERROR_BODY = 300;

function authHeader(auth: SyncAuth): Record<string, string> {
  if (auth.kind === 'bearer') return { authorization: `Bearer ${auth.token}` };
  if (auth.kind === 'basic') {
    return {
      authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`,
    };
  }
  return {};
}

/**
 * One HTTP call. Statuses in `accept` are answers (returned); any other status is a SyncError quoting
 * the server's own words (Loki answers in plain text, Grafana in JSON `message`).
 */
export async function call(
  endpoint: SyncEndpoint,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  path: string,
  options: { body?: string; contentType?: string; accept?: number[]; headers?: Record<string, string> } = {},
): Promise<SyncResponse> {
  const base = endpoint.url.endsWith('/') ? endpoint.url : `${endpoint.url}/`;
  const url = new URL(path.replace(/^\//, ''), base);
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers: {
        accept: 'application/json, application/yaml;q=0.9, */*;q=0.1',
        ...authHeader(endpoint.auth),
        ...endpoint.headers,
        ...options.headers,
        ...(options.body === undefined ? {} : { 'content-type': options.contentType ?? 'application/json' }),
      },
      ...(options.body === undefined ? {} : { body: options.body }),
      signal: AbortSignal.timeout(endpoint.timeoutMs ?? 15_000),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new SyncError(
      `${method} ${url.pathname}: cannot reach ${url.origin}: ${cause?.code ?? cause?.message ?? (error as Error).message}`,
    );
  }
  const text = await response.text();
  const accepted = options.accept ?? [200];
  if (!accepted.includes(response.status)) {
    let detail = text.trim();
    try {
      const parsed = JSON.parse(text) as { message?: string; error?: string };
      detail = parsed.message ?? parsed.error ?? detail;
    } catch {
      // Loki's ruler answers errors in plain text.
    }
    const hint =
      response.status === 401 || response.status === 403
        ? ' (check LOKIBAN_SYNC_TOKEN or LOKIBAN_SYNC_USER/LOKIBAN_SYNC_PASSWORD)'
        : '';
    throw new SyncError(
      `${method} ${url.pathname} failed: HTTP ${response.status}: ${detail.slice(0, MAX_ERROR_BODY)}${hint}`,
      response.status,
    );
  }
  return { status: response.status, contentType: response.headers.get('content-type') ?? '', text };
}
