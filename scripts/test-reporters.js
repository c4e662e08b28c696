// With LOKIBAN_TEST_REPORT_DIR set (scripts/test-all.sh sets it), each vitest project also writes a
// JSON report there, named after the project and the Node major it ran on (the responder suite runs on
// more than one), which scripts/check-test-reports.mjs reads to refuse silently skipped tests.
/** @param {string} project */
export function testReporters(project) {
  const dir = process.env.LOKIBAN_TEST_REPORT_DIR;
  if (!dir) return ['default'];
  const node = process.versions.node.split('.')[0];
  return ['default', ['json', { outputFile: `${dir}/${project}-node${node}.json` }]];
}
