import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ApiBan } from '../src/shared/api-types';
import type { TestResponder } from './responder';
import type { SeedOffence } from './seed';

/**
 * In-memory stand-in for the responder's documented API (docs/api.md), used until the real routes
 * are available on this branch. Same shapes, same token roles.
 */
export async function startFixtureResponder(): Promise<TestResponder> {
  const readToken = `read-${Math.random().toString(36).slice(2)}`;
  const adminToken = `admin-${Math.random().toString(36).slice(2)}`;
  const bans: ApiBan[] = [];
  const iso = (ms: number) => new Date(ms).toISOString();
  const bantime: Record<string, number> = { sshd: 3600, 'nginx-http-auth': 1800, 'postfix-sasl': -1 };
  const active = (ban: ApiBan) =>
    ban.liftedAt === null && (ban.expiresAt === null || Date.parse(String(ban.expiresAt)) > Date.now());

  const send = (response: ServerResponse, status: number, payload: unknown) => {
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(JSON.stringify(payload));
  };
  const readBody = async (request: IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    return JSON.parse(Buffer.concat(chunks).toString() || '{}');
  };

  const server = createServer(async (request, response) => {
    const url = new URL(request.url ?? '/', 'http://x');
    const auth = request.headers.authorization ?? '';
    const role =
      auth === `Bearer ${adminToken}` ? 'admin' : auth === `Bearer ${readToken}` ? 'read' : undefined;
    if (!role)
      return send(response, 401, {
        statusCode: 401,
        error: 'Unauthorized',
        message: 'authentication required',
      });
    const now = Date.now();
    if (request.method === 'GET' && url.pathname === '/api/v1/bans') {
      const q = url.searchParams;
      const list = bans
        .filter((ban) => q.get('active') !== 'true' || active(ban))
        .filter((ban) => !q.get('ip') || ban.ip === q.get('ip'))
        .filter((ban) => !q.get('jail') || ban.jail === q.get('jail'))
        .slice(0, Number(q.get('limit') ?? 1000));
      return send(response, 200, { bans: list, now: iso(now) });
    }
    if (request.method === 'GET' && url.pathname === '/api/v1/jails') {
      return send(response, 200, { jails: Object.keys(bantime).map((name) => ({ name })) });
    }
    if (request.method === 'GET' && url.pathname === '/api/v1/stats') {
      const bucket = 15 * 60_000;
      const counts = new Map<string, number>();
      for (const ban of bans) {
        const time = Math.floor(Date.parse(String(ban.createdAt)) / bucket) * bucket;
        counts.set(`${time}|${ban.jail}`, (counts.get(`${time}|${ban.jail}`) ?? 0) + 1);
      }
      const group = (key: (ban: ApiBan) => string[]) => {
        const map = new Map<string, { bans: number; active: number }>();
        for (const ban of bans)
          for (const name of key(ban)) {
            const entry = map.get(name) ?? { bans: 0, active: 0 };
            entry.bans++;
            if (active(ban)) entry.active++;
            map.set(name, entry);
          }
        return [...map.entries()];
      };
      return send(response, 200, {
        series: [...counts.entries()].map(([key, value]) => {
          const [time, jail] = key.split('|');
          return { time: Number(time), jail, bans: value };
        }),
        topIps: group((ban) => [ban.ip]).map(([ip, v]) => ({ ip, bans: v.bans, lastBanAt: now })),
        topPrefixes: group((ban) => [
          ban.ip.includes(':') ? ban.ip : `${ban.ip.split('.').slice(0, 3).join('.')}.0/24`,
        ]).map(([prefix, v]) => ({ prefix, bans: v.bans })),
        perJail: group((ban) => [ban.jail]).map(([jail, v]) => ({ jail, ...v })),
        perHost: group((ban) => ban.hosts.map((h) => h.host)).map(([host, v]) => ({ host, ...v })),
      });
    }
    if (request.method === 'POST' && role !== 'admin') {
      return send(response, 403, {
        statusCode: 403,
        error: 'Forbidden',
        message: 'this token has role read',
      });
    }
    if (request.method === 'POST' && url.pathname === '/api/v1/unban') {
      const body = await readBody(request);
      const lifted = bans.filter(
        (ban) => ban.ip === body.ip && (!body.jail || ban.jail === body.jail) && active(ban),
      );
      for (const ban of lifted) Object.assign(ban, { liftedAt: iso(now), liftedBy: 'grafana-admin' });
      return send(response, 200, { ip: body.ip, unbanned: lifted });
    }
    if (request.method === 'POST' && url.pathname === '/api/v1/bans') {
      const body = await readBody(request);
      const ban = bans.find(
        (candidate) => candidate.ip === body.ip && candidate.jail === body.jail && active(candidate),
      );
      if (!ban) return send(response, 404, { message: 'no active ban' });
      const wanted = body.duration === '-1' ? null : now + Number.parseInt(body.duration, 10) * 3_600_000;
      if (ban.expiresAt !== null && (wanted === null || wanted > Date.parse(String(ban.expiresAt)))) {
        ban.expiresAt = wanted === null ? null : iso(wanted);
      }
      return send(response, 201, ban);
    }
    return send(response, 404, { message: 'not found' });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    readToken,
    adminToken,
    async seed(offences: SeedOffence[]) {
      for (const offence of offences) {
        const earlier = bans.filter((ban) => ban.ip === offence.ip && ban.jail === offence.jail).length;
        const created = Date.now() - 60_000 - (bans.length % 20) * 600_000;
        const seconds = bantime[offence.jail] ?? 600;
        bans.push({
          id: bans.length + 1,
          ip: offence.ip.includes(':') ? `${offence.ip.split('::')[0]}::/64` : offence.ip,
          jail: offence.jail,
          level: earlier,
          createdAt: iso(created),
          updatedAt: iso(created),
          expiresAt: seconds === -1 ? null : iso(Date.now() + seconds * 1000 - (bans.length % 7) * 60_000),
          liftedAt: null,
          liftedBy: null,
          offences: 1 + (bans.length % 3),
          source: 'alertmanager',
          summary: offence.summary,
          sample: offence.sample,
          hosts: [
            {
              host: offence.host,
              desired: 'present',
              state: 'applied',
              attempts: 1,
              lastError: null,
              appliedAt: iso(created),
            },
          ],
        });
      }
    },
    async unban(ip: string) {
      for (const ban of bans) if (ban.ip === ip && active(ban)) ban.liftedAt = new Date().toISOString();
    },
    async activeBans(query = {}) {
      return bans.filter((ban) => active(ban) && (!query.ip || ban.ip === query.ip));
    },
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}
