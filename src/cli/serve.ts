import { hostname } from 'node:os';
import type { Command } from 'commander';
import { LISTEN } from '../config/schema.js';
import { loadConfigOrExit } from './config-commands.js';
import { CliError, type CliIo, EXIT_CONFIG } from './io.js';

export function registerServeCommand(program: Command, io: CliIo): void {
  program
    .command('serve')
    .description('run the responder: webhook, API, metrics')
    .requiredOption('-c, --config <file>', 'configuration file (YAML)')
    .option('--env-file <file>', 'load environment variables (secrets) from this file first')
    .option(
      '--listen <host:port>',
      'override server.listen (env LOKIBAN_LISTEN), e.g. 0.0.0.0:9797 in a container',
    )
    .action(async (options: { config: string; envFile?: string; listen?: string }) => {
      if (options.envFile) {
        try {
          // Node's own loader; variables already set in the environment win.
          process.loadEnvFile(options.envFile);
        } catch (error) {
          throw new CliError(
            `cannot read env file ${options.envFile}: ${(error as Error).message}`,
            EXIT_CONFIG,
          );
        }
      }
      const config = loadConfigOrExit(options.config, io.env);
      const listen = options.listen ?? io.env.LOKIBAN_LISTEN;
      if (listen !== undefined) {
        const port = LISTEN.exec(listen)?.[2];
        if (port === undefined || Number(port) > 65_535) {
          throw new CliError(
            `${options.listen === undefined ? 'LOKIBAN_LISTEN' : '--listen'}: expected HOST:PORT with a port from 0 to 65535 (got ${JSON.stringify(listen)})`,
            EXIT_CONFIG,
          );
        }
      }
      // Loaded on demand: API commands should not pay for fastify, the store driver and prom-client.
      const { parseListen, startServer } = await import('../server.js');
      const { createEnforcement } = await import('../enforce/index.js');
      // The lease owner names this responder: stable across its restarts (it takes its hosts back at
      // once), distinct from another replica on the same machine (which must not share its leases).
      const owner = `lokiban@${hostname()}:${parseListen(listen ?? config.server.listen).port}`;
      let server: Awaited<ReturnType<typeof startServer>>;
      try {
        server = await startServer(config, {
          handleSignals: true,
          // The dispatcher and reconciler run in the responder: bans reach the hosts without another process.
          enforcement: ({ store, logger }) => createEnforcement(config, store, logger, { owner }),
          ...(listen ? { listen } : {}),
        });
      } catch (error) {
        // Port in use, unwritable database directory, unreachable Postgres: one line, not a stack.
        throw new CliError(`cannot start: ${(error as Error).message}`);
      }
      io.err(`lokiban listening on ${server.url}`);
    });
}
