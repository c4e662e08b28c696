// Writes a realistic /var/log/auth.log-style sshd log (rsyslog traditional format) for the rule
// benchmark: brute force from a few hundred addresses (IPv4, IPv6, IPv4-mapped), scanners,
// legitimate logins and sessions, and unrelated services, with injection attempts in user names.
// Deterministic (seeded), so every run measures the same file.
import { createWriteStream, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

const [file = 'bench/out/sshd-1m.log', countText = '1000000'] = process.argv.slice(2);
const count = Number(countText);

let seed = 0x5eed;
const random = () => {
  seed = (seed * 1_103_515_245 + 12_345) & 0x7fffffff;
  return seed / 0x80000000;
};
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
const int = (min: number, max: number) => min + Math.floor(random() * (max - min + 1));

const attackers = Array.from({ length: 300 }, (_, i) =>
  i % 10 === 0
    ? `2001:db8:${(i * 7).toString(16)}::${(i + 1).toString(16)}`
    : `${pick([45, 103, 185, 193, 218])}.${int(1, 254)}.${int(1, 254)}.${int(1, 254)}`,
);
const users = ['root', 'admin', 'test', 'oracle', 'ubuntu', 'pi', 'postgres', 'git', 'user', 'ftpuser'];
const months = ['Nov'];

function message(ip: string): { prog: string; text: string } {
  const r = random();
  const port = int(1024, 65535);
  const user = pick(users);
  if (r < 0.28) return { prog: 'sshd', text: `Failed password for ${user} from ${ip} port ${port} ssh2` };
  if (r < 0.36) return { prog: 'sshd', text: `Invalid user ${user} from ${ip} port ${port}` };
  if (r < 0.44)
    return { prog: 'sshd', text: `Failed password for invalid user ${user} from ${ip} port ${port} ssh2` };
  if (r < 0.46)
    return {
      prog: 'sshd',
      text: `Failed password for invalid user x from 10.0.0.9 port 1 ssh2 from ${ip} port ${port} ssh2`,
    };
  if (r < 0.5)
    return {
      prog: 'sshd',
      text: `pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=${ip}  user=${user}`,
    };
  if (r < 0.56)
    return {
      prog: 'sshd',
      text: `Connection closed by authenticating user ${user} ${ip} port ${port} [preauth]`,
    };
  if (r < 0.6)
    return { prog: 'sshd', text: `Received disconnect from ${ip} port ${port}:11: Bye Bye [preauth]` };
  if (r < 0.62)
    return {
      prog: 'sshd',
      text: `Unable to negotiate with ${ip} port ${port}: no matching key exchange method found. Their offer: diffie-hellman-group1-sha1 [preauth]`,
    };
  const good = `192.0.2.${int(1, 50)}`;
  if (r < 0.7)
    return {
      prog: 'sshd',
      text: `Accepted publickey for deploy from ${good} port ${port} ssh2: ED25519 SHA256:q2Zf0bXlGYWtlS2V5`,
    };
  if (r < 0.76)
    return {
      prog: 'sshd',
      text: 'pam_unix(sshd:session): session opened for user deploy(uid=1000) by (uid=0)',
    };
  if (r < 0.82) return { prog: 'sshd', text: 'pam_unix(sshd:session): session closed for user deploy' };
  if (r < 0.86) return { prog: 'sshd', text: `Disconnected from user deploy ${good} port ${port}` };
  if (r < 0.93)
    return { prog: 'CRON', text: 'pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)' };
  return { prog: 'systemd', text: 'Started session-42.scope - Session 42 of User deploy.' };
}

mkdirSync(dirname(file), { recursive: true });
const out = createWriteStream(file);
const start = Date.UTC(2026, 10, 27, 0, 0, 0);
let buffer = '';
for (let i = 0; i < count; i++) {
  const ts = new Date(start + Math.floor((i * 86_400_000) / count));
  const stamp = `${pick(months)} ${String(ts.getUTCDate()).padStart(2, ' ')} ${ts.toISOString().slice(11, 19)}`;
  let ip = pick(attackers);
  if (!ip.includes(':') && random() < 0.05) ip = `::ffff:${ip}`;
  const { prog, text } = message(ip);
  buffer += `${stamp} bastion ${prog}[${int(1000, 65000)}]: ${text}\n`;
  if (buffer.length > 1 << 20) {
    out.write(buffer);
    buffer = '';
  }
}
out.end(buffer);
