import fs from "node:fs";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Command } from "commander";
import { batchSummary } from "../batch-format";
import { CliError } from "../errors";
import { EXIT } from "../exit-codes";
import type { Context } from "../context";
import { submitBatch } from "./batch-submit";

/** `llmq batch ...`: the OpenAI Batch API through the official SDK. */
export function registerBatchCommands(program: Command, context: Context): void {
  const batch = program.command("batch").description("submit and follow batches (OpenAI Batch API)");

  batch
    .command("submit")
    .description("upload a JSONL file of requests and create a batch; prints the batch id")
    .argument("<file>", "JSONL file, one OpenAI batch request per line")
    .option("--model <model>", "model for lines whose body has none")
    .option("--endpoint <path>", "/v1/chat/completions or /v1/completions", "/v1/chat/completions")
    .option("--window <duration>", "completion window (24h, 90m, 30s, ...)", "24h")
    .option("--wait", "follow the batch to its end with a progress bar, then print a summary")
    .action(async (file: string, options: unknown) => context.run(async () => submitBatch(context.openai(), file, options)));

  batch
    .command("status")
    .description("print a batch's status and request counts")
    .argument("<id>", "batch id")
    .option("--json", "print the batch object as JSON")
    .action(async (id: string, options: { json?: boolean }) =>
      context.run(async () => {
        const found = await context.openai().batches.retrieve(id);
        process.stdout.write(`${options.json ? JSON.stringify(found, null, 2) : batchSummary(found)}\n`);
        return EXIT.OK;
      }),
    );

  batch
    .command("results")
    .description("download a batch's output file (or, with --errors, its error file)")
    .argument("<id>", "batch id")
    .option("-o, --output <file>", "where to write the JSONL (default: stdout)")
    .option("--errors", "the error file instead of the output file")
    .action(async (id: string, options: { output?: string; errors?: boolean }) =>
      context.run(async () => {
        const client = context.openai();
        const found = await client.batches.retrieve(id);
        const fileId = options.errors ? found.error_file_id : found.output_file_id;
        if (!fileId) {
          const which = options.errors ? "error" : "output";
          const why = ["completed", "expired", "cancelled", "failed"].includes(found.status) ? "it is empty" : `the batch is still ${found.status}`;
          throw new CliError(`${id} has no ${which} file: ${why}`, EXIT.NOT_FOUND);
        }
        const content = await client.files.content(fileId);
        if (!content.body) throw new CliError(`${fileId} came back empty`, EXIT.API);
        const target: Writable = options.output ? fs.createWriteStream(options.output) : process.stdout;
        // Streamed: a large result never sits in memory whole.
        await pipeline(Readable.fromWeb(content.body as import("node:stream/web").ReadableStream), target, { end: target !== process.stdout });
        if (options.output) process.stderr.write(`wrote ${fileId} to ${options.output}\n`);
        return EXIT.OK;
      }),
    );

  batch
    .command("cancel")
    .description("cancel a batch: queued requests never run, finished ones are kept")
    .argument("<id>", "batch id")
    .action(async (id: string) =>
      context.run(async () => {
        const cancelled = await context.openai().batches.cancel(id);
        process.stdout.write(`${cancelled.id}: ${cancelled.status}\n`);
        return EXIT.OK;
      }),
    );
}
