/**
 * Runs the CLI with its input and output passed in (so tests run it
 * in-process and `src/cli.ts` wires it to the process): parses the
 * arguments, prints the usage for `help`, and hands `report` and `clip` to
 * their commands. Usage errors exit 2, other errors 1, each as one line on
 * stderr; the worker threads are closed on the way out.
 * @module
 */
import { parseArgs } from "node:util";
import { closeThreads } from "../_threads/pool.ts";
import { clip } from "./clip_command.ts";
import { CliError } from "./layers.ts";
import { type CliIo, oneLine, type Values } from "./load.ts";
import { report } from "./report_command.ts";
import { ALLOWED, OPTIONS, USAGE } from "./usage.ts";

export type { CliIo } from "./load.ts";

/**
 * The arguments with a negative number after a flag that takes a value
 * (`--max-norm -1`) joined to it (`--max-norm=-1`), so that the flag's own
 * check refuses the value (parseArgs would call it ambiguous).
 */
function negativeValues(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let j = 0; j < args.length; j++) {
    const flag = args[j].startsWith("--") ? args[j].slice(2) : undefined;
    const next = args[j + 1];
    const option = flag === undefined ? undefined : (OPTIONS as Record<string, { type: string }>)[flag];
    if (option?.type === "string" && next !== undefined && /^-(\d|\.\d|Infinity)/.test(next)) {
      out.push(`${args[j]}=${next}`);
      j++;
    } else {
      out.push(args[j]);
    }
  }
  return out;
}

/** Runs the CLI on `args` (without the program name); resolves to the exit status. */
export async function run(args: readonly string[], io: CliIo): Promise<number> {
  try {
    let parsed;
    try {
      parsed = parseArgs({ args: negativeValues(args), options: OPTIONS, allowPositionals: true, strict: true });
    } catch (e) {
      throw new CliError(`${oneLine(e).split(". ")[0]} (see: convsv help)`, 2);
    }
    const { values, positionals } = parsed;
    const [command, model, ...extra] = positionals;
    if (command === undefined || command === "help" || (values.help && !ALLOWED[command])) {
      io.stdout(USAGE + "\n");
      return command === undefined && !values.help ? 2 : 0;
    }
    if (!ALLOWED[command]) {
      throw new CliError(`Unknown command ${JSON.stringify(command)}: expected report, clip or help`, 2);
    }
    if (values.help) {
      io.stdout(USAGE + "\n");
      return 0;
    }
    for (const key of Object.keys(values)) {
      if (!ALLOWED[command].includes(key)) {
        throw new CliError(`--${key} is not an option of ${command} (see: convsv help)`, 2);
      }
    }
    if (model === undefined) throw new CliError(`${command} needs a MODEL file (see: convsv help)`, 2);
    if (extra.length) throw new CliError(`Unexpected argument ${JSON.stringify(extra[0])} (see: convsv help)`, 2);
    const v = values as Values;
    return command === "report" ? await report(io, model, v) : await clip(io, model, v);
  } catch (e) {
    io.stderr.write(`convsv: error: ${oneLine(e)}\n`);
    return e instanceof CliError ? e.exitCode : 1;
  } finally {
    closeThreads();
  }
}
