#!/usr/bin/env -S node --
// `--` ends Node's own options: without it Node reads our `--env-file FILE` itself and exits 9 on a
// missing file before lokiban can say anything.
import { CommanderError } from 'commander';
import { ConfigError } from '../config/load.js';
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
    if (error instanceof CliError || error instanceof ConfigError) {
      processIo.err(`error: ${error.message}`);
      process.exitCode = error instanceof CliError ? error.exitCode : EXIT_CONFIG;
      return;
    }
    // Anything else is unexpected: one line for the operator (its message, without the `Error:` that
    // String(error) would add after our own `error:`), the stack on request.
    const detail = process.env.LOKIBAN_DEBUG
      ? ((error as Error).stack ?? String(error))
      : error instanceof Error
        ? error.message
        : String(error);
    processIo.err(
      `error: ${detail}${process.env.LOKIBAN_DEBUG ? '' : ' (set LOKIBAN_DEBUG=1 for the stack)'}`,
    );
    process.exitCode = EXIT_FAILURE;
  }
}

await main();
