import { CliError, type CliIo } from '../../src/cli/io.js';
import { buildProgram } from '../../src/cli/program.js';

export interface CliRun {
  out: string;
  err: string;
  code: number;
}

/**
 * Runs the lokiban CLI in-process and returns what it printed and its exit code, as a shell would see
 * them; `separator` joins the pieces of standard output (commands print whole lines or raw documents).
 */
export async function runCli(args: string[], env: NodeJS.ProcessEnv = {}, separator = '\n'): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { out: (t) => out.push(t), err: (t) => err.push(t), env };
  let code = 0;
  try {
    await buildProgram(io)
      .exitOverride()
      .parseAsync(['node', 'lokiban', ...args]);
  } catch (error) {
    if (error instanceof CliError) {
      err.push(`error: ${error.message}`);
      code = error.exitCode;
    } else if ((error as { exitCode?: number }).exitCode !== undefined) {
      code = (error as { exitCode: number }).exitCode;
    } else throw error;
  }
  return { out: out.join(separator), err: err.join('\n'), code };
}
