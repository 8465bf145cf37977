import { LlmqApiError, LlmqConnectionError, LlmqStreamEndedError } from "@llmq/client";
import { APIConnectionError, APIError } from "openai";
import { ZodError } from "zod";
import { EXIT, type ExitCode } from "./exit-codes";

/** An error the CLI reports as one line on stderr, exiting with `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
  ) {
    super(message);
    this.name = "CliError";
  }
}

/** An HTTP answer that was not 2xx: 404 -> not found, anything else -> API error. */
export function httpError(status: number, message: string): CliError {
  return new CliError(`${status}: ${message}`, status === 404 ? EXIT.NOT_FOUND : EXIT.API);
}

function networkMessage(error: unknown): string {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  const code = (cause as { code?: unknown } | null)?.code;
  const text = cause instanceof Error ? cause.message : String(cause);
  return typeof code === "string" && !text.includes(code) ? `${code} ${text}` : text;
}

/** Maps anything thrown by a command onto a one-line message and an exit code. */
export function toCliError(error: unknown): CliError {
  if (error instanceof CliError) return error;
  if (error instanceof ZodError) {
    // Our schemas name the option or variable in their messages; zod's own messages get it prepended.
    const issue = error.issues[0];
    const message = issue?.message ?? "invalid option";
    const option = issue?.path.map((part) => String(part).replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)).join(".");
    return new CliError(/--|LLMQ_/.test(message) || !option ? message : `--${option}: ${message}`, EXIT.USAGE);
  }
  if (error instanceof LlmqConnectionError) return new CliError(`cannot reach the server: ${networkMessage(error.cause ?? error)}`, EXIT.API);
  if (error instanceof LlmqApiError) return httpError(error.status, error.message);
  if (error instanceof LlmqStreamEndedError) return new CliError(`the server ended the event stream of ${error.taskId ?? "the task"}: ${error.message} (${error.code})`, EXIT.API);
  if (error instanceof APIConnectionError) return new CliError(`cannot reach the server: ${networkMessage(error)}`, EXIT.API);
  if (error instanceof APIError) {
    const body = error.error as { message?: unknown } | undefined;
    const message = typeof body?.message === "string" ? body.message : error.message;
    return httpError(error.status ?? 0, message);
  }
  // fetch() rejects with a TypeError("fetch failed") whose cause says why.
  if (error instanceof TypeError && error.message === "fetch failed") return new CliError(`cannot reach the server: ${networkMessage(error)}`, EXIT.API);
  const code = (error as { code?: unknown } | null)?.code;
  const file = (error as { path?: unknown } | null)?.path;
  if (typeof file === "string" && (code === "ENOENT" || code === "EACCES" || code === "EISDIR")) {
    const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : "is a directory";
    return new CliError(`${file}: ${why}`, EXIT.USAGE);
  }
  return new CliError(`unexpected error: ${error instanceof Error ? error.message : String(error)}`, EXIT.API);
}
