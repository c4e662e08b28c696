// Reads the vitest JSON reports of one test run and fails it when any test was skipped: on the
// test machine every real part (sshd, nftables, Alertmanager, PostgreSQL, Chromium) is installed,
// so a skip means a missing part, not an optional one. Prints a line per report (one per suite and
// Node version), then the total, the line CI reads.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: check-test-reports.mjs DIR');
  process.exit(2);
}
const reports = readdirSync(dir).filter((name) => name.endsWith('.json'));
if (reports.length === 0) {
  console.error(`no test reports in ${dir}`);
  process.exit(1);
}
let passed = 0;
let failed = 0;
const skipped = [];
for (const name of reports.sort()) {
  const report = JSON.parse(readFileSync(join(dir, name), 'utf8'));
  passed += report.numPassedTests;
  failed += report.numFailedTests;
  console.log(
    `${name.replace(/\.json$/, '')}: ${report.numPassedTests} passed, ${report.numFailedTests} failed, ${report.numPendingTests + report.numTodoTests} skipped`,
  );
  for (const file of report.testResults) {
    for (const test of file.assertionResults) {
      if (test.status === 'pending' || test.status === 'skipped' || test.status === 'todo') {
        skipped.push(`${file.name}: ${test.fullName}`);
      }
    }
  }
}
for (const test of skipped) console.error(`skipped: ${test}`);
console.log(`${passed} passed, ${failed} failed, ${skipped.length} skipped`);
if (failed > 0 || skipped.length > 0 || passed === 0) process.exit(1);
