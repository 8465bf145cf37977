import fs from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import OpenAI, { toFile } from "openai";
import type { Batch, BatchCreateParams } from "openai/resources/batches";
import { z } from "zod";
import { FINAL_BATCH_STATUSES, batchSummary } from "../batch-format";
import { CliError } from "../errors";
import { EXIT, type ExitCode } from "../exit-codes";
import { withDefaultModel } from "../jsonl";
import { progressReporter } from "../progress";

export const submitOptionsSchema = z.object({
  model: z.string().min(1).optional(),
  endpoint: z.enum(["/v1/chat/completions", "/v1/completions"], { error: "--endpoint must be /v1/chat/completions or /v1/completions" }),
  window: z.string().regex(/^\d{1,6}[smh]$/, "--window must be a duration such as 24h, 90m or 30s"),
  wait: z.boolean().default(false),
});

const POLL_MS = 500;

/** Uploads FILE, creates the batch, prints its id; with --wait follows it to the end. */
export async function submitBatch(client: OpenAI, file: string, rawOptions: unknown): Promise<ExitCode> {
  const options = submitOptionsSchema.parse(rawOptions);
  if (!fs.statSync(file).isFile()) throw new CliError(`${file} is not a file`, EXIT.USAGE);

  const input = options.model ? await withDefaultModel(file, options.model) : { file, remove: () => {} };
  let uploaded;
  try {
    uploaded = await client.files.create({ file: await toFile(fs.createReadStream(input.file), path.basename(file)), purpose: "batch" });
  } finally {
    input.remove();
  }
  const batch = await client.batches.create({
    input_file_id: uploaded.id,
    endpoint: options.endpoint,
    // Ours takes any duration; the SDK's type knows only OpenAI's "24h".
    completion_window: options.window as BatchCreateParams["completion_window"],
  });
  process.stdout.write(`${batch.id}\n`);
  if (!options.wait) return EXIT.OK;

  const final = await follow(client, batch);
  process.stderr.write(`${batchSummary(final)}\n`);
  return final.status === "completed" ? EXIT.OK : EXIT.BATCH_NOT_COMPLETED;
}

/** Polls the batch until it is final, reporting progress on stderr; Ctrl-C stops watching, not the batch. */
async function follow(client: OpenAI, created: Batch): Promise<Batch> {
  const live = Boolean(process.stdout.isTTY && process.stderr.isTTY);
  const reporter = progressReporter(process.stderr, live);
  const onInterrupt = () => {
    reporter.stop();
    process.stderr.write(`\nstopped watching; the batch keeps running: llmq batch status ${created.id}\n`);
    process.exit(130);
  };
  process.once("SIGINT", onInterrupt);
  try {
    let batch = created;
    for (;;) {
      reporter.update(batch);
      if (FINAL_BATCH_STATUSES.has(batch.status)) return batch;
      await sleep(POLL_MS);
      batch = await client.batches.retrieve(batch.id);
    }
  } finally {
    reporter.stop();
    process.off("SIGINT", onInterrupt);
  }
}
