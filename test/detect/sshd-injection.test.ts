import { describe, expect, it } from 'vitest';
import { compileQuery } from '../../src/logql/evaluate.js';
import { parseRuleQuery } from '../../src/logql/query.js';
import { loadContext, loadRules, render } from '../../src/logql/toolkit.js';

/**
 * Client-chosen text (user names, disconnect reasons, banners, algorithm offers, hostbased client
 * names) built from pieces of sshd's own formats, in every sshd message that carries it: whatever
 * the client writes, an sshd jail counts the address sshd wrote, or nothing.
 */
const REAL = '192.0.2.77';
const FORGED = '10.0.0.9';
const pieces = [
  '',
  'x',
  ` from ${FORGED}`,
  ` from ${FORGED} port 1`,
  ' ssh2',
  ' ssh1: ruser y',
  ':',
  ': RSA SHA256:AAAA',
  ' [preauth]',
  ` ${FORGED} port 1 [preauth]`,
  ' not allowed because not listed in AllowUsers',
  ' invalid user',
  ` via ${FORGED}`,
  ` (${FORGED})`,
  `: 3: x: Auth fail`,
  `, client host "h"`,
];

const templates: ((text: string) => string)[] = [
  (u) => `Failed password for ${u} from ${REAL} port 2 ssh2`,
  (u) => `Failed password for invalid user ${u} from ${REAL} port 2 ssh2`,
  (u) => `Failed none for invalid user ${u} from ${REAL} port 2 ssh2`,
  (u) => `Invalid user ${u} from ${REAL} port 2`,
  (u) => `Failed publickey for invalid user ${u} from ${REAL} port 2 ssh2: ED25519 SHA256:abc`,
  (u) => `Failed keyboard-interactive/pam for invalid user ${u} from ${REAL} port 2 ssh2`,
  (u) => `error: maximum authentication attempts exceeded for ${u} from ${REAL} port 2 ssh2 [preauth]`,
  (u) => `User ${u} from ${REAL} not allowed because not listed in AllowUsers`,
  (u) => `Connection closed by invalid user ${u} ${REAL} port 2 [preauth]`,
  (u) => `Disconnected from authenticating user ${u} ${REAL} port 2 [preauth]`,
  (u) => `error: PAM: Authentication failure for ${u} from ${REAL}`,
  (u) => `Received disconnect from ${REAL} port 2:3: ${u}: Auth fail [preauth]`,
  (u) => `Received disconnect from ${REAL} port 2:11: ${u} [preauth]`,
  (u) =>
    `Unable to negotiate with ${REAL} port 2: no matching cipher found. Their offer: ${u.replaceAll(' ', ',')}`,
  (u) => `Bad protocol version identification '${u}' from ${REAL} port 2`,
  (u) =>
    `Failed hostbased for x from ${REAL} port 2 ssh2: RSA SHA256:abc, client user "${u.replaceAll('"', '')}", client host "h"`,
  (u) =>
    `Failed password for ${u} from ${REAL} port 2 ssh2`.replace(`${REAL} port 2 ssh2`, `${REAL} port 2 ssh2`),
  (u) =>
    `pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=${REAL}  user=${u.replaceAll(' ', '')}`,
];

const prefixes = ['', 'Jan  1 00:00:00 bastion sshd[1]: ', '<38>1 2026-01-01T00:00:00Z bastion sshd 1 - - '];

const context = loadContext({});
const sshdJails = ['sshd', 'sshd-ddos', 'sshd-extra', 'sshd-aggressive'];

describe.each(sshdJails)('%s', (jail) => {
  it('never counts an address the client wrote', () => {
    const rules = loadRules(render(context, 'loki'), 'loki', 'jail').filter((r) => r.jail === jail);
    const compiled = rules.map((rule) => compileQuery(parseRuleQuery(rule.expr)));
    const labels = { job: 'sshd' };
    const wrong: string[] = [];
    let counted = 0;
    let lines = 0;
    for (const a of pieces) {
      for (const b of pieces) {
        for (const c of pieces) {
          const text = `${a}${b}${c}`;
          for (const template of templates) {
            for (const prefix of prefixes) {
              const line = prefix + template(text);
              lines++;
              const found = compiled.map((q) => q.extract(line, labels, 'ip')).filter((ip) => ip !== null);
              if (found.length > 1) wrong.push(`counted twice: ${line}`);
              if (found.length > 0) counted++;
              for (const ip of found) if (ip !== REAL) wrong.push(`${ip}: ${line}`);
            }
          }
        }
      }
    }
    expect(wrong.slice(0, 10)).toEqual([]);
    // The checks above mean something only if most lines still count.
    expect(counted / lines).toBeGreaterThan(0.4);
  });
});
