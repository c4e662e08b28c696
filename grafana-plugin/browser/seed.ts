/** Offences as the alert rules report them: what the browser test feeds the responder. */
export interface SeedOffence {
  ip: string;
  jail: string;
  host: string;
  summary: string;
  sample: string;
}

const SSH_USERS = ['root', 'admin', 'ubuntu', 'oracle', 'git', 'test'];

/** A realistic mix: several jails and hosts, IPv4 and IPv6, repeat offenders. */
export function realisticOffences(): SeedOffence[] {
  const list: SeedOffence[] = [];
  const add = (ip: string, jail: string, host: string) => {
    const user = SSH_USERS[list.length % SSH_USERS.length]!;
    const line =
      jail === 'sshd'
        ? `Failed password for invalid user ${user} from ${ip} port ${40_000 + list.length} ssh2`
        : jail === 'postfix-sasl'
          ? `warning: unknown[${ip}]: SASL LOGIN authentication failed: UGFzc3dvcmQ6`
          : `${ip} - - "GET /wp-login.php HTTP/1.1" 401 188 "-" "Mozilla/5.0"`;
    const what =
      jail === 'sshd' ? 'failed SSH logins' : jail === 'postfix-sasl' ? 'failed SASL logins' : 'HTTP 401s';
    list.push({
      ip,
      jail,
      host,
      summary: `${5 + (list.length % 7)} ${what} from ${ip} on ${host}`,
      sample: line,
    });
  };
  add('203.0.113.7', 'sshd', 'web1');
  add('203.0.113.45', 'sshd', 'web2');
  add('198.51.100.23', 'nginx-http-auth', 'web1');
  add('192.0.2.200', 'postfix-sasl', 'mail1');
  add('2001:db8:85a3::8a2e:370:7334', 'sshd', 'web1');
  add('203.0.113.99', 'nginx-http-auth', 'web2');
  add('198.51.100.77', 'sshd', 'mail1');
  add('192.0.2.14', 'sshd', 'web1');
  add('2001:db8:1234::42', 'nginx-http-auth', 'web2');
  add('198.51.100.150', 'postfix-sasl', 'mail1');
  return list;
}

/** Offenders that were banned, unbanned, and came back: their new ban escalates. */
export const REPEAT_OFFENDERS = ['198.51.100.23', '192.0.2.14'];

/** `count` distinct IPv4 offenders spread over jails and hosts, for the 10,000-ban benchmark. */
export function manyOffences(count: number): SeedOffence[] {
  const jails = ['sshd', 'nginx-http-auth', 'postfix-sasl'];
  const hosts = ['web1', 'web2', 'mail1'];
  return Array.from({ length: count }, (_, i) => {
    const ip = `10.${20 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
    return {
      ip,
      jail: jails[i % jails.length]!,
      host: hosts[i % hosts.length]!,
      summary: `5 failed logins from ${ip}`,
      sample: `Failed password for root from ${ip} port 22 ssh2`,
    };
  });
}
