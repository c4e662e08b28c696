#!/usr/bin/env node
import { CommanderError } from 'commander';
import { CliError, EXIT_CONFIG, EXIT_FAILURE, processIo } from './io.js';
import { buildProgram } from './program.js';

async function main(): Promise<void> {
  const program = buildProgram(processIo).exitOverride();
  try {
    await program.parseAsync(process.argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version exit 0; usage errors were already printed by commander.
      process.exitCode = error.exitCode === 0 ? 0 : EXIT_CONFIG;
      return;
    }
    if (error instanceof CliError) {
      processIo.err(`error: ${error.message}`);
      process.exitCode = error.exitCode;
      return;
    }
    processIo.err(`error: ${(error as Error).stack ?? String(error)}`);
    process.exitCode = EXIT_FAILURE;
  }
}

await main();
