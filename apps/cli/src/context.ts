import type { Command } from "commander";
import type OpenAI from "openai";
import { type CliConfig, type GlobalOptions, loadConfig, openAIClient } from "./config";
import { toCliError } from "./errors";
import type { ExitCode } from "./exit-codes";
import { TaskApi } from "./task-api";

/** What every command gets: the clients, built on first use from the validated configuration. */
export interface Context {
  openai(): OpenAI;
  tasks(): TaskApi;
  /** Runs a command, turning what it throws into one line on stderr and the matching exit code. */
  run(action: () => Promise<ExitCode>): Promise<void>;
}

export function createContext(program: Command, env: NodeJS.ProcessEnv): Context {
  let config: CliConfig | undefined;
  const configOf = () => (config ??= loadConfig(program.opts<GlobalOptions>(), env));
  return {
    openai: () => openAIClient(configOf()),
    tasks: () => new TaskApi(configOf()),
    async run(action) {
      try {
        process.exitCode = await action();
      } catch (error) {
        const failure = toCliError(error);
        process.stderr.write(`llmq: ${failure.message}\n`);
        process.exitCode = failure.exitCode;
      }
    },
  };
}
