/**
 * A minimal stand-in for CrowdSec's Local API, enough for crowdsec-firewall-bouncer in stream mode:
 * `GET /v1/decisions/stream` answers `{"new": [...], "deleted": [...]}` (the shape of CrowdSec's
 * `models.DecisionsStreamResponse`). Until "arm" arrives on stdin every answer is empty; the first
 * poll after it gets all `count` ban decisions once, later polls are empty again. It prints
 * "listening" when ready and "served <n>" after each non-empty answer.
 * Usage (inside the bouncer's namespace): node --import tsx lapi-standin.ts <port> <count> <api key>
 */
import { createServer } from 'node:http';
import { createInterface } from 'node:readline';

const [port, count, apiKey] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4]];
let pending: string | undefined;

function decisions(n: number): string {
  const list = Array.from({ length: n }, (_, i) => ({
    id: i + 1,
    origin: 'crowdsec',
    scenario: 'bench/ssh-bf',
    scope: 'Ip',
    type: 'ban',
    duration: '23h59m59s',
    value: `100.${64 + ((i >> 16) & 63)}.${(i >> 8) & 255}.${i & 255}`,
  }));
  return JSON.stringify({ new: list, deleted: [] });
}

const server = createServer((request, response) => {
  if (request.headers['x-api-key'] !== apiKey) {
    response.writeHead(403).end();
    return;
  }
  if (!request.url?.startsWith('/v1/decisions/stream')) {
    response.writeHead(404).end();
    return;
  }
  const body = pending ?? JSON.stringify({ new: [], deleted: [] });
  const served = pending !== undefined;
  pending = undefined;
  response.writeHead(200, { 'content-type': 'application/json' }).end(body);
  if (served) console.log(`served ${count}`);
});

server.listen(port, '127.0.0.1', () => console.log('listening'));
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'arm') pending = decisions(count);
  if (line === 'quit') server.close(() => process.exit(0));
});
