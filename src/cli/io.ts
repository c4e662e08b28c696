/** Where commands write; tests capture it, the binary uses the process streams. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  env: NodeJS.ProcessEnv;
}

export const processIo: CliIo = {
  out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  err: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
  env: process.env,
};

/** A failure the user can act on: printed as `error: <message>` and mapped to an exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** Exit codes: 1 = the command failed, 2 = the configuration (or usage) is invalid. */
export const EXIT_FAILURE = 1;
export const EXIT_CONFIG = 2;
