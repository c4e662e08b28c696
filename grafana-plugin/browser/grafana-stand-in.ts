import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { DATASOURCE_ID, distDir } from '../scripts/layout';

/**
 * The part of Grafana the panel depends on at runtime: static plugin files and the datasource
 * data proxy. The proxy applies the `routes` of the built datasource plugin.json the way Grafana
 * does (method, path prefix, reqRole, `{{ .JsonData.x }}` / `{{ .SecureJsonData.x }}` templates),
 * so the token is added here, server side, and never reaches the browser.
 */
export interface DatasourceInstance {
  jsonData: Record<string, string>;
  secureJsonData: Record<string, string>;
}

export type OrgRole = 'Viewer' | 'Editor' | 'Admin';
const RANK: Record<OrgRole, number> = { Viewer: 0, Editor: 1, Admin: 2 };

interface Route {
  path: string;
  method?: string;
  reqRole?: OrgRole;
  url: string;
  headers?: Array<{ name: string; content: string }>;
}

export interface StandIn {
  url: string;
  /** The Grafana role of the signed-in user, checked against each route's reqRole. */
  role: OrgRole;
  /** Every request header the browser sent, to prove no token came from it. */
  browserHeaders: Array<Record<string, string | string[] | undefined>>;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.ttf': 'font/ttf',
  '.map': 'application/json',
};

function template(text: string, instance: DatasourceInstance): string {
  return text.replace(/\{\{\s*\.(JsonData|SecureJsonData)\.(\w+)\s*\}\}/g, (_, scope: string, key: string) =>
    scope === 'JsonData' ? (instance.jsonData[key] ?? '') : (instance.secureJsonData[key] ?? ''),
  );
}

async function body(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function send(response: ServerResponse, status: number, payload: unknown) {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(payload));
}

export async function startStandIn(options: {
  distDir: string;
  harnessDir: string;
  /** @grafana/ui's icon SVGs, which Grafana serves under public/build/img/icons. */
  iconsDir?: string;
  datasources: Record<string, DatasourceInstance>;
}): Promise<StandIn> {
  const manifest = JSON.parse(await readFile(join(distDir(DATASOURCE_ID), 'plugin.json'), 'utf8')) as {
    routes: Route[];
  };
  const state: StandIn = { url: '', role: 'Editor', browserHeaders: [], close: async () => {} };

  const serveFile = async (response: ServerResponse, root: string, relative: string) => {
    const path = normalize(join(root, relative));
    if (!path.startsWith(root)) return send(response, 403, { message: 'forbidden' });
    try {
      const content = await readFile(path);
      response.writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream' });
      response.end(content);
    } catch {
      send(response, 404, { message: 'not found' });
    }
  };

  const proxy = async (request: IncomingMessage, response: ServerResponse, uid: string, rest: string) => {
    const instance = options.datasources[uid];
    if (!instance) return send(response, 404, { message: 'Data source not found' });
    const route = manifest.routes.find(
      (candidate) =>
        (!candidate.method || candidate.method === '*' || candidate.method === request.method) &&
        rest.startsWith(candidate.path),
    );
    if (!route) return send(response, 404, { message: 'no data proxy route matches' });
    if (route.reqRole && RANK[state.role] < RANK[route.reqRole]) {
      return send(response, 403, { message: 'Permission denied' });
    }
    const url = new URL(template(route.url, instance) + rest.slice(route.path.length));
    url.search = new URL(request.url ?? '/', 'http://x').search;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (request.headers['content-type']) headers['content-type'] = request.headers['content-type'];
    for (const header of route.headers ?? []) headers[header.name] = template(header.content, instance);
    try {
      const upstream = await fetch(url, {
        method: request.method,
        headers,
        body: request.method === 'GET' ? undefined : new Uint8Array(await body(request)),
      });
      response.writeHead(upstream.status, {
        'content-type': upstream.headers.get('content-type') ?? 'application/json',
      });
      response.end(Buffer.from(await upstream.arrayBuffer()));
    } catch {
      // Grafana's proxy answers 502 Bad Gateway when the upstream cannot be reached.
      send(response, 502, { message: 'Bad Gateway' });
    }
  };

  const server: Server = createServer((request, response) => {
    state.browserHeaders.push({ ...request.headers });
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname);
    const proxied = path.match(/^\/api\/datasources\/proxy\/uid\/([^/]+)\/(.*)$/);
    const handle = proxied
      ? proxy(request, response, proxied[1]!, proxied[2]!)
      : path === '/'
        ? serveFile(response, options.harnessDir, 'index.html')
        : path.startsWith('/harness/')
          ? serveFile(response, options.harnessDir, path.slice('/harness/'.length))
          : path.startsWith('/public/build/img/icons/') && options.iconsDir
            ? serveFile(response, options.iconsDir, path.slice('/public/build/img/icons/'.length))
            : path.startsWith('/plugins/')
              ? serveFile(response, options.distDir, path.slice('/plugins/'.length))
              : Promise.resolve(send(response, 404, { message: 'not found' }));
    handle.catch(() => send(response, 500, { message: 'Internal Server Error' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}
