import {
  type DataQueryError,
  type DataQueryRequest,
  type DataQueryResponse,
  DataSourceApi,
  type DataSourceInstanceSettings,
  type TestDataSourceResponse,
} from '@grafana/data';
import { type FetchError, getBackendSrv, isFetchError } from '@grafana/runtime';
import { lastValueFrom } from 'rxjs';
import type { ApiBan, ApiBansResponse, ApiJail, ApiStats, ApiUnbanResponse } from '../shared/api-types';
import { bucketFor } from '../shared/format';
import { bansToFrame, seriesPerJail, statsToFrames } from '../shared/frames';
import type { JailLogs } from '../shared/logs-link';
import type { LokibanResponderApi } from '../shared/responder-api';
import { DEFAULT_QUERY, type LokibanOptions, type LokibanQuery } from './types';

/** Data proxy route prefixes declared in plugin.json: `read` (any viewer) and `write` (editors). */
const READ = 'read';
const WRITE = 'write';

export class ResponderError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly unreachable: boolean,
  ) {
    super(message);
  }
}

/** Turns a proxy failure into a message that tells the operator what to fix. */
export function describeFailure(error: unknown): ResponderError {
  if (error instanceof ResponderError) return error;
  if (isFetchError(error)) {
    const status = error.status;
    const detail = responderMessage(error);
    // Grafana's proxy answers 502 when it cannot connect and 504 on timeout.
    if (status === 502 || status === 503 || status === 504 || status === 0 || status === undefined) {
      return new ResponderError(
        `Grafana could not reach the lokiban responder (HTTP ${status ?? 'none'}): check that it is running and that the datasource URL is reachable from the Grafana server.`,
        status,
        true,
      );
    }
    if (status === 401) {
      return new ResponderError(
        'The responder rejected the token: set a valid API token in the datasource settings.',
        status,
        false,
      );
    }
    if (status === 403) {
      return new ResponderError(
        detail
          ? `Not allowed: ${detail}`
          : 'Not allowed: changing bans needs the Editor role in Grafana and an admin-role token in the datasource settings.',
        status,
        false,
      );
    }
    return new ResponderError(detail ?? `Responder answered HTTP ${status}`, status, false);
  }
  return new ResponderError(error instanceof Error ? error.message : String(error), undefined, false);
}

function responderMessage(error: FetchError): string | undefined {
  const data = error.data as { message?: unknown } | undefined;
  return typeof data?.message === 'string' ? data.message : undefined;
}

export class LokibanDatasource
  extends DataSourceApi<LokibanQuery, LokibanOptions>
  implements LokibanResponderApi
{
  readonly lokibanResponder = true as const;
  private readonly base: string;

  constructor(instanceSettings: DataSourceInstanceSettings<LokibanOptions>) {
    super(instanceSettings);
    this.base = instanceSettings.url ?? '';
  }

  override getDefaultQuery(): Partial<LokibanQuery> {
    return DEFAULT_QUERY;
  }

  async query(request: DataQueryRequest<LokibanQuery>): Promise<DataQueryResponse> {
    const from = request.range.from.valueOf();
    const to = request.range.to.valueOf();
    const targets = request.targets.filter((target) => !target.hide);
    try {
      const data = (
        await Promise.all(
          targets.map(async (target) => {
            const query = { ...DEFAULT_QUERY, ...target };
            const frames = [];
            if (query.kind === 'overview' || query.kind === 'bans') {
              const limit = query.limit ?? 10_000;
              const params: Record<string, string> = { limit: String(limit) };
              if (query.activeOnly !== false) params.active = 'true';
              else Object.assign(params, { from: String(from), to: String(to) });
              if (query.jail) params.jail = query.jail;
              const result = await this.get<ApiBansResponse>('bans', params, request.requestId);
              const frame = bansToFrame(result.bans, target.refId);
              if (result.bans.length >= limit) {
                // Grafana shows frame notices in the panel header: a cut-off list must not look complete.
                frame.meta = {
                  notices: [
                    {
                      severity: 'warning',
                      text: `Showing the first ${limit} bans: raise the query's limit (up to 100000) to see all.`,
                    },
                  ],
                };
              }
              frames.push(frame);
            }
            if (query.kind === 'overview' || query.kind === 'stats' || query.kind === 'history') {
              const stats = await this.get<ApiStats>(
                'stats',
                { from: String(from), to: String(to), bucket: bucketFor(to - from) },
                request.requestId,
              );
              frames.push(
                ...(query.kind === 'history'
                  ? seriesPerJail(stats, target.refId)
                  : statsToFrames(stats, target.refId)),
              );
            }
            return frames;
          }),
        )
      ).flat();
      return { data };
    } catch (error) {
      const failure = describeFailure(error);
      const queryError: DataQueryError = { message: failure.message, status: failure.status };
      return { data: [], error: queryError, errors: [queryError] };
    }
  }

  async testDatasource(): Promise<TestDataSourceResponse> {
    try {
      const result = await this.get<{ jails: Array<{ name: string }> }>('jails', {});
      const count = Array.isArray(result.jails) ? result.jails.length : 0;
      return { status: 'success', message: `Connected to lokiban: ${count} jail(s) configured.` };
    } catch (error) {
      return { status: 'error', message: describeFailure(error).message };
    }
  }

  async history(ip: string): Promise<ApiBan[]> {
    try {
      return (await this.get<ApiBansResponse>('bans', { ip, limit: '200' })).bans;
    } catch (error) {
      throw describeFailure(error);
    }
  }

  async jails(): Promise<JailLogs[]> {
    try {
      const result = await this.get<{ jails: ApiJail[] }>('jails', {});
      return result.jails.map((jail) => ({
        name: jail.name,
        findtime: jail.findtime,
        ...(typeof jail.logql === 'string' && jail.logql ? { logql: jail.logql } : {}),
        ...(Array.isArray(jail.logqlParts) &&
        jail.logqlParts.length > 0 &&
        jail.logqlParts.every((part) => typeof part === 'string' && part)
          ? { logqlParts: jail.logqlParts }
          : {}),
        ...(typeof jail.ipLabel === 'string' && jail.ipLabel ? { ipLabel: jail.ipLabel } : {}),
      }));
    } catch (error) {
      throw describeFailure(error);
    }
  }

  async unban(ip: string, jail?: string): Promise<ApiBan[]> {
    const body: Record<string, string> = { ip, reason: 'unbanned from Grafana' };
    if (jail) body.jail = jail;
    const result = await this.post<ApiUnbanResponse>('unban', body);
    return result.unbanned;
  }

  async extend(ip: string, jail: string, duration: string): Promise<ApiBan> {
    return this.post<ApiBan>('bans', { ip, jail, duration, reason: 'extended from Grafana' });
  }

  private async get<T>(path: string, params: Record<string, string>, requestId?: string): Promise<T> {
    const response = await lastValueFrom(
      getBackendSrv().fetch<T>({
        url: `${this.base}/${READ}/${path}`,
        method: 'GET',
        params,
        requestId: requestId ? `${requestId}-${path}` : undefined,
        showErrorAlert: false,
      }),
    );
    return response.data;
  }

  private async post<T>(path: string, body: unknown): Promise<T> {
    try {
      const response = await lastValueFrom(
        getBackendSrv().fetch<T>({
          url: `${this.base}/${WRITE}/${path}`,
          method: 'POST',
          data: body,
          showErrorAlert: false,
        }),
      );
      return response.data;
    } catch (error) {
      throw describeFailure(error);
    }
  }
}
