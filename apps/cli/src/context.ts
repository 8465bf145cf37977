import type { Command } from "commander";
import type { LlmqClient } from "@llmq/client";
import type OpenAI from "openai";
import { type CliConfig, type GlobalOptions, loadConfig, openAIClient, taskClient } from "./config";
import { toCliError } from "./errors";
import type { ExitCode } from "./exit-codes";

/** What every command gets: the clients, built on first use from the validated configuration. */
export interface Context {
  openai(): OpenAI;
  tasks(): LlmqClient;
  /** Runs a command, turning what it throws into one line on stderr and the matching exit code. */
  run(action: () => Promise<ExitCode>): Promise<void>;
}

export function createContext(program: Command, env: NodeJS.ProcessEnv): Context {
  let config: CliConfig | undefined;
  const configOf = () => (config ??= loadConfig(program.opts<GlobalOptions>(), env));
  return {
    openai: () => openAIClient(configOf()),
    tasks: () => taskClient(configOf()),
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
