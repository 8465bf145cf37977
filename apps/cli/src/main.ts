import "./supported-node";
import { Command, CommanderError } from "commander";
import { registerBatchCommands } from "./commands/batch";
import { registerTaskCommands } from "./commands/tasks";
import { createContext } from "./context";
import { EXIT, EXIT_CODES_HELP } from "./exit-codes";

/** Builds the `llmq` program; commands set process.exitCode rather than exiting, so output drains. */
export function buildProgram(env: NodeJS.ProcessEnv): Command {
  const program = new Command("llmq")
    .description("command-line client for llmq: batches (OpenAI Batch API) and tasks (task API)")
    .option("--base-url <url>", "the server (env LLMQ_BASE_URL, default http://127.0.0.1:3000)")
    .option("--api-key <key>", "API key (env LLMQ_API_KEY)")
    .showHelpAfterError("(run with --help for usage)")
    .addHelpText("after", EXIT_CODES_HELP)
    .exitOverride();
  const context = createContext(program, env);
  registerBatchCommands(program, context);
  registerTaskCommands(program, context);
  for (const command of program.commands) command.exitOverride().showHelpAfterError("(run with --help for usage)");
  return program;
}

async function main(): Promise<void> {
  // `llmq ... | head` closes the pipe early: that is the reader's choice, not an error worth a stack trace.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (error: NodeJS.ErrnoException) => process.exit(error.code === "EPIPE" ? EXIT.OK : EXIT.USAGE));
  }
  try {
    await buildProgram(process.env).parseAsync(process.argv);
  } catch (error) {
    // Commander has already printed its message (missing argument, unknown option, help).
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
      return;
    }
    process.stderr.write(`llmq: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = EXIT.USAGE;
  }
}

void main();
