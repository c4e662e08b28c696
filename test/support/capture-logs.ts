import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { beforeEach, expect, onTestFailed } from 'vitest';

/**
 * A vitest setup file: what a test file writes to process.stdout — the JSON log lines of a responder
 * it starts in-process — goes to a log file of its own instead of the test output, and a failed test
 * prints the lines written since the previous test ended. pino writes through process.stdout.write
 * once that has been replaced (otherwise straight to file descriptor 1, past any capture): pino's
 * lib/tools.js, `hasBeenTampered`.
 */

const REPO = join(import.meta.dirname, '..', '..');
const LOG_DIR = process.env.LOKIBAN_TEST_LOG_DIR || join(REPO, 'test-results', 'logs');
/** A failed test prints at most this many of its lines; the log file has them all. */
const SHOWN_ON_FAILURE = 200;

const testFile = expect.getState().testPath ?? 'unknown';
const logFile = join(LOG_DIR, `${relative(REPO, testFile).replaceAll('/', '__')}.log`);
mkdirSync(LOG_DIR, { recursive: true });
writeFileSync(logFile, '');

let sinceLastTest: string[] = [];

process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
  const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
  appendFileSync(logFile, text);
  sinceLastTest.push(...text.split('\n').filter(Boolean));
  if (sinceLastTest.length > SHOWN_ON_FAILURE) sinceLastTest = sinceLastTest.slice(-SHOWN_ON_FAILURE);
  const callback = rest.find((arg) => typeof arg === 'function') as (() => void) | undefined;
  callback?.();
  return true;
}) as typeof process.stdout.write;

beforeEach(() => {
  // onTestFailed may run before or after this hook's cleanup: it reads whichever holds the lines.
  let finished: string[] | undefined;
  onTestFailed(() => {
    const lines = finished ?? sinceLastTest;
    if (lines.length === 0) return;
    console.error(
      `stdout of this test file since the previous test (all of it: ${logFile}):\n${lines.join('\n')}`,
    );
  });
  return () => {
    finished = sinceLastTest;
    sinceLastTest = [];
  };
});
