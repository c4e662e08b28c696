export function testReporters(project: string): Array<string | [string, { outputFile: string }]>;
