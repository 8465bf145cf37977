import { createHash } from "node:crypto";
import { setPriority } from "node:os";
import { once } from "node:events";
import { type MessagePort, workerData } from "node:worker_threads";
import { AppError, type ModelsConfig } from "@llmq/core";
import { decodeBody } from "../http/body-encoding";
import { type ParseOutcome, type ParseTask, type ParsedItem, ITEMS_PER_MESSAGE } from "./batch-parser";
import { parseNativeBatch } from "./batch-request";

/** Nice value of the parsing thread (0 is the process's, 19 the lowest priority). */
const BACKGROUND_NICE = 10;

const { models } = workerData as { models: ModelsConfig };

// Below the event loop: on Linux a thread's nice value is its own, so under CPU contention the API's
// main thread (health checks, every other request) runs before this thread's parsing.
try {
  setPriority(0, BACKGROUND_NICE);
} catch {
  // Not permitted or not supported here: the thread runs at the process's priority.
}

/**
 * Hands the items over a slice at a time, each when the main thread asks for it (see batch-parser.ts); the
 * last ask acknowledges the last slice, so every item is across before the outcome is answered.
 */
async function send(items: ParsedItem[], port: MessagePort): Promise<void> {
  for (let start = 0; start < items.length; start += ITEMS_PER_MESSAGE) {
    await once(port, "message");
    port.postMessage(items.slice(start, start + ITEMS_PER_MESSAGE));
  }
  await once(port, "message");
}

/** Runs in the worker thread of batch-parser.ts: the whole CPU cost of reading a native batch body, decompression included. */
export default async function parseInThread({ body, port }: ParseTask): Promise<ParseOutcome> {
  try {
    // The bytes arrive as a plain Uint8Array: a Buffer over the same memory, then decoded (bounded by the body's limit).
    const bytes = decodeBody({ ...body, bytes: Buffer.from(body.bytes.buffer, body.bytes.byteOffset, body.bytes.byteLength) });
    const { items, ...batch } = parseNativeBatch(bytes.toString("utf8"), models);
    const digest = createHash("sha256").update(bytes).digest("hex");
    // The model travels by id: the main thread has its own copy of each model's settings.
    await send(
      items.map(({ task: { model, ...task }, customId }) => ({ ...task, modelId: model.id, customId })),
      port,
    );
    return { ok: true, batch, digest, count: items.length };
  } catch (error) {
    if (error instanceof AppError) return { ok: false, error: { status: error.status, code: error.code, message: error.message, param: error.param } };
    throw error;
  } finally {
    port.close();
  }
}
