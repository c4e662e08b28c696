#!/usr/bin/env node
// Stand-alone entry for the rules toolkit, for CI and the benchmark: `node dist/cli/rules-entry.js`
// or `tsx src/cli/rules-entry.ts`. The `lokiban` program registers the same commands.
import { Command } from 'commander';
import { registerRulesCommands } from './rules.js';

const program = new Command('lokiban').exitOverride((error) => {
  process.exit(error.exitCode === 1 ? 2 : error.exitCode);
});
registerRulesCommands(program);
try {
  await program.parseAsync();
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n`);
  process.exitCode = 2;
}
