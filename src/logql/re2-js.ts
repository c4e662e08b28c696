/**
 * Translates an RE2 regexp (already accepted by RE2) into an equivalent JavaScript RegExp when every
 * construct it uses means the same thing in both engines; returns undefined otherwise, and the caller
 * keeps the (much slower) pure RE2 engine.
 *
 * Why this is sound: Go's regexp documents that among the leftmost matches it "chooses the one that a
 * backtracking implementation would have chosen" (https://pkg.go.dev/regexp), which is exactly what
 * V8's backtracking engine returns, submatches included. What differs between the dialects is the
 * meaning of some escapes and of `.`, which are rewritten here to RE2's ASCII definitions:
 * `\s` is `[\t\n\f\r ]` (not Unicode space), `\d` `[0-9]`, `\w` `[0-9A-Za-z_]`, and `.` is any
 * character but `\n` (JavaScript's also excludes `\r`, U+2028 and U+2029). The `u` flag makes `.` and
 * classes work on code points, as RE2 works on runes. Anything else (flags, POSIX classes, `\p`,
 * `\Q…\E`, `\A`, `\z`, octal escapes, a leading `]` in a class) is not translated.
 */

const SYNTAX_CHARS = new Set('^$\\.*+?()[]{}|/'.split(''));
const SHORTHAND: Record<string, string> = { d: '0-9', s: '\\t\\n\\f\\r ', w: '0-9A-Za-z_' };
const SIMPLE_ESCAPES = new Set(['n', 't', 'r', 'f', 'v']);

function escapeOutsideClass(char: string): string | undefined {
  if (SYNTAX_CHARS.has(char)) return `\\${char}`;
  if (/[!-~]/.test(char) && !/[0-9A-Za-z]/.test(char)) return char;
  return undefined;
}

export function translateRe2ToJs(pattern: string): RegExp | undefined {
  let out = '';
  let i = 0;
  const n = pattern.length;
  while (i < n) {
    const char = pattern[i]!;
    if (char === '\\') {
      const next = pattern[i + 1];
      if (next === undefined) return undefined;
      i += 2;
      const lower = next.toLowerCase();
      if (SHORTHAND[lower] !== undefined) {
        out += next === lower ? `[${SHORTHAND[lower]}]` : `[^${SHORTHAND[lower]}]`;
      } else if (SIMPLE_ESCAPES.has(next) || next === 'b' || next === 'B') {
        out += `\\${next}`;
      } else {
        const escaped = escapeOutsideClass(next);
        if (escaped === undefined) return undefined;
        out += escaped;
      }
      continue;
    }
    if (char === '[') {
      let j = i + 1;
      let body = '';
      if (pattern[j] === '^') {
        body += '^';
        j++;
      }
      if (pattern[j] === ']') return undefined;
      let closed = false;
      while (j < n) {
        const c = pattern[j]!;
        if (c === ']') {
          closed = true;
          j++;
          break;
        }
        if (c === '[') {
          // `[[:alpha:]]` and a literal `[` read differently across dialects.
          return undefined;
        }
        if (c === '\\') {
          const next = pattern[j + 1];
          if (next === undefined) return undefined;
          j += 2;
          if (SHORTHAND[next] !== undefined) body += SHORTHAND[next];
          else if (SIMPLE_ESCAPES.has(next)) body += `\\${next}`;
          else if (/[!-~]/.test(next) && !/[0-9A-Za-z]/.test(next)) body += `\\${next}`;
          else return undefined;
          continue;
        }
        body += c;
        j++;
      }
      if (!closed) return undefined;
      out += `[${body}]`;
      i = j;
      continue;
    }
    if (char === '(') {
      if (pattern[i + 1] !== '?') {
        out += '(';
        i++;
        continue;
      }
      const rest = pattern.slice(i);
      const named = /^\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>/.exec(rest);
      if (named) {
        out += `(?<${named[1]}>`;
        i += named[0].length;
        continue;
      }
      if (rest.startsWith('(?:')) {
        out += '(?:';
        i += 3;
        continue;
      }
      return undefined;
    }
    if (char === '{') {
      const repeat = /^\{\d+(?:,\d*)?\}/.exec(pattern.slice(i));
      if (!repeat) return undefined;
      out += repeat[0];
      i += repeat[0].length;
      continue;
    }
    if (char === '.') {
      out += '[^\\n]';
      i++;
      continue;
    }
    if (char === '}' || char === ']') {
      out += `\\${char}`;
      i++;
      continue;
    }
    out += char;
    i++;
  }
  try {
    return new RegExp(out, 'u');
  } catch {
    return undefined;
  }
}
