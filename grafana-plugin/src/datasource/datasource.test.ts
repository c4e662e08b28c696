import { type DataQueryRequest, type DataSourceInstanceSettings, FieldType } from '@grafana/data';
import { type BackendSrvRequest, type FetchResponse, setBackendSrv } from '@grafana/runtime';
import { type Observable, of, throwError } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { apiBan, apiStats, timeRange } from '../../test/factories';
import { FRAME, findField, readBans } from '../shared/frames';
import { isResponderApi } from '../shared/responder-api';
import { LokibanDatasource } from './datasource';
import type { LokibanOptions, LokibanQuery } from './types';

const BASE = '/api/datasources/proxy/uid/lkb';

function datasource() {
  return new LokibanDatasource({
    id: 1,
    uid: 'lkb',
    type: 'lokiban-responder-datasource',
    name: 'lokiban',
    url: BASE,
    jsonData: { url: 'http://127.0.0.1:9797' },
    access: 'proxy',
    readOnly: false,
    meta: {} as never,
  } as DataSourceInstanceSettings<LokibanOptions>);
}

/** Records requests and answers them like Grafana's backendSrv, from a route table. */
function backend(answer: (request: BackendSrvRequest) => unknown) {
  const requests: BackendSrvRequest[] = [];
  setBackendSrv({
    fetch: <T>(request: BackendSrvRequest): Observable<FetchResponse<T>> => {
      requests.push(request);
      try {
        return of({ data: answer(request) as T, status: 200, ok: true } as FetchResponse<T>);
      } catch (error) {
        return throwError(() => error);
      }
    },
  } as never);
  return requests;
}

function request(targets: LokibanQuery[]): DataQueryRequest<LokibanQuery> {
  return { targets, range: timeRange(), requestId: 'Q1' } as DataQueryRequest<LokibanQuery>;
}

describe('LokibanDatasource', () => {
  it('queries active bans and stats through the read proxy route and returns named frames', async () => {
    const requests = backend((req) =>
      req.url.endsWith('/bans') ? { bans: [apiBan({ ip: '203.0.113.7', expiresAt: null })] } : apiStats(),
    );
    const result = await datasource().query(request([{ refId: 'A' }]));
    expect(requests.map((req) => [req.method, req.url])).toEqual([
      ['GET', `${BASE}/read/bans`],
      ['GET', `${BASE}/read/stats`],
    ]);
    expect(requests[0]!.params).toEqual({ active: 'true', limit: '10000' });
    const range = timeRange();
    expect(requests[1]!.params).toEqual({
      from: String(range.from.valueOf()),
      to: String(range.to.valueOf()),
      bucket: '15m',
    });
    expect(result.data.map((frame) => frame.name)).toEqual(Object.values(FRAME));
    const bans = readBans(result.data[0]);
    expect('rows' in bans && bans.rows[0]).toMatchObject({
      ip: '203.0.113.7',
      expiresAt: null,
      hosts: 'web1',
    });
    expect(findField(result.data[1], 'time', FieldType.time)?.values.length).toBe(3);
  });

  it('lists bans of the time range when activeOnly is off', async () => {
    const requests = backend(() => ({ bans: [] }));
    await datasource().query(
      request([{ refId: 'A', kind: 'bans', activeOnly: false, jail: 'sshd', limit: 50 }]),
    );
    expect(requests).toHaveLength(1);
    expect(requests[0]!.params).toMatchObject({ jail: 'sshd', limit: '50', from: expect.any(String) });
    expect(requests[0]!.params).not.toHaveProperty('active');
  });

  it('warns when the ban list reached the limit', async () => {
    backend(() => ({ bans: [apiBan({ id: 1 }), apiBan({ id: 2 })] }));
    const full = await datasource().query(request([{ refId: 'A', kind: 'bans', limit: 2 }]));
    expect(full.data[0].meta?.notices?.[0]?.text).toMatch(/first 2 bans/);
    const room = await datasource().query(request([{ refId: 'A', kind: 'bans', limit: 3 }]));
    expect(room.data[0].meta?.notices).toBeUndefined();
  });

  it('turns a proxy 502 into a responder-unreachable error with guidance', async () => {
    backend(() => {
      throw { status: 502, data: { message: 'Bad Gateway' }, config: { url: '' } };
    });
    const result = await datasource().query(request([{ refId: 'A' }]));
    expect(result.data).toEqual([]);
    expect(result.errors?.[0]).toMatchObject({
      status: 502,
      message: expect.stringMatching(/could not reach the lokiban responder/),
    });
  });

  it('explains a rejected token', async () => {
    backend(() => {
      throw { status: 401, data: { message: 'Unauthorized' }, config: { url: '' } };
    });
    const test = await datasource().testDatasource();
    expect(test).toMatchObject({ status: 'error', message: expect.stringMatching(/API token/) });
  });

  it('returns one time series per jail for the history query', async () => {
    backend(() => apiStats());
    const result = await datasource().query(request([{ refId: 'H', kind: 'history' }]));
    expect(result.data.map((frame) => frame.name)).toEqual(['nginx-http-auth', 'sshd']);
    const sshd = result.data[1];
    expect(sshd.fields.map((field: { name: string }) => field.name)).toEqual(['time', 'bans']);
    expect(sshd.fields[1].values).toEqual([4, 7]);
    expect(sshd.fields[1].config.displayNameFromDS).toBe('sshd');
    expect(sshd.fields[1].labels).toEqual({ jail: 'sshd' });
  });

  it('reads each jail’s findtime, and its log query when the responder publishes one', async () => {
    const requests = backend(() => ({
      jails: [
        {
          name: 'sshd',
          findtime: 600,
          logql: '{job="sshd"} | regexp `(?P<ip>\\S+)`',
          ipLabel: 'ip',
          bantime: 3600,
        },
        { name: 'postfix-sasl', findtime: 3600, bantime: -1 },
        {
          name: 'dovecot',
          findtime: 600,
          logqlParts: ['{job="a"} | regexp `(?P<ip>a)`', '{job="a"} | regexp `(?P<ip>b)`'],
          ipLabel: 'ip',
        },
        { name: 'exim', findtime: 600, logqlParts: ['{job="e"}', 7] },
      ],
    }));
    expect(await datasource().jails()).toEqual([
      { name: 'sshd', findtime: 600, logql: '{job="sshd"} | regexp `(?P<ip>\\S+)`', ipLabel: 'ip' },
      { name: 'postfix-sasl', findtime: 3600 },
      {
        name: 'dovecot',
        findtime: 600,
        logqlParts: ['{job="a"} | regexp `(?P<ip>a)`', '{job="a"} | regexp `(?P<ip>b)`'],
        ipLabel: 'ip',
      },
      // A malformed list is ignored rather than half used.
      { name: 'exim', findtime: 600 },
    ]);
    expect(requests[0]!.url).toBe(`${BASE}/read/jails`);
  });

  it('reports the jail count on test', async () => {
    backend(() => ({ jails: [{ name: 'sshd' }, { name: 'postfix-sasl' }] }));
    expect(await datasource().testDatasource()).toMatchObject({
      status: 'success',
      message: expect.stringMatching(/2 jail/),
    });
  });

  it('unbans and extends through the write route, which Grafana limits to editors', async () => {
    const requests = backend((req) =>
      req.url.endsWith('/unban') ? { ip: '203.0.113.7', unbanned: [apiBan()] } : apiBan({ expiresAt: null }),
    );
    const ds = datasource();
    expect(isResponderApi(ds)).toBe(true);
    expect(await ds.unban('203.0.113.7', 'sshd')).toHaveLength(1);
    expect((await ds.extend('203.0.113.7', 'sshd', '1d')).expiresAt).toBeNull();
    expect(requests.map((req) => [req.method, req.url, req.data])).toEqual([
      ['POST', `${BASE}/write/unban`, { ip: '203.0.113.7', jail: 'sshd', reason: 'unbanned from Grafana' }],
      [
        'POST',
        `${BASE}/write/bans`,
        { ip: '203.0.113.7', jail: 'sshd', duration: '1d', reason: 'extended from Grafana' },
      ],
    ]);
  });

  it('surfaces a forbidden unban as an error naming the role and token', async () => {
    backend(() => {
      throw { status: 403, data: {}, config: { url: '' } };
    });
    await expect(datasource().unban('203.0.113.7')).rejects.toThrow(/Editor role.*admin-role token/);
  });
});
