import path from "node:path";
import { pathToFileURL } from "node:url";
import { MessageChannel, type MessagePort } from "node:worker_threads";
import { type AppError, type ModelsConfig, PayloadTooLargeError, type PreparedTask, ServiceUnavailableError, ValidationError } from "@llmq/core";
import { Piscina } from "piscina";
import type { EncodedBody } from "../http/body-encoding";
import type { NativeBatchItem, NativeBatchRequest } from "./batch-request";

/** An item as it crosses from the thread: its model by id. */
export type ParsedItem = Omit<PreparedTask, "model"> & { modelId: string; customId: string };

/** What the thread is given: the body as it was sent (still compressed, if it was) and the port its items come back on. */
export interface ParseTask {
  body: EncodedBody;
  port: MessagePort;
}

/** A refusal as it crosses from the thread: 413 (decoded past the limit) or 400. */
interface ParseFailure {
  status: number;
  code: string;
  message: string;
  param: string | null;
}

/** What the thread answers once its items are across: the batch's other fields, or the first problem it found. */
export type ParseOutcome = { ok: true; batch: Omit<NativeBatchRequest, "items">; digest: string; count: number } | { ok: false; error: ParseFailure };

/** The thread's refusal as the typed error it was there. */
function refusal({ status, code, message, param }: ParseFailure): AppError {
  return status === 413 ? new PayloadTooLargeError(message, { param, code }) : new ValidationError(message, { param, code });
}

/**
 * Items per message from the thread. Receiving a message copies it into this thread's heap in one go: 2,500
 * items take a few milliseconds, all 50,000 at once over 100.
 */
export const ITEMS_PER_MESSAGE = 2_500;
/** Bodies waiting for the thread before new ones are refused with 503: each may hold 64 MB. */
const MAX_WAITING = 8;

/** Pulls the thread's items one message at a time, each read (and given its model) in its own event-loop turn. */
function receive(port: MessagePort, models: ModelsConfig, items: NativeBatchItem[]): void {
  port.on("message", (slice: ParsedItem[]) => {
    for (const { modelId, customId, ...task } of slice) items.push({ customId, task: { ...task, model: models.byId.get(modelId)! } });
    setImmediate(() => port.postMessage("next"));
  });
  port.postMessage("next");
}

/**
 * Reads native batch bodies (up to BATCH_BODY_LIMIT, 50,000 requests) in a worker thread, so decompression,
 * JSON parsing, validation and preparation of a large or hostile body never hold the API's event loop: a
 * 50,000-item body costs about half a second of CPU there. The thread starts with the API and stays.
 */
export class NativeBatchParser {
  private readonly pool: Piscina<ParseTask, ParseOutcome>;

  constructor(private readonly models: ModelsConfig) {
    // From source (tsx, jest) the thread needs tsx to load TypeScript; built code runs as it is.
    const fromSource = __filename.endsWith(".ts");
    this.pool = new Piscina({
      filename: path.join(__dirname, `batch-parser.thread${path.extname(__filename)}`),
      workerData: { models },
      minThreads: 1,
      maxThreads: 1,
      maxQueue: MAX_WAITING,
      execArgv: fromSource ? ["--import", pathToFileURL(require.resolve("tsx")).href] : [],
    });
  }

  /**
   * The body's batch, every request checked and prepared, and the SHA-256 of its decoded bytes (what
   * Idempotency-Key compares, whatever the encoding); ValidationError at the first problem,
   * PayloadTooLargeError when it decodes past its limit.
   */
  async parse(body: EncodedBody): Promise<{ request: NativeBatchRequest; digest: string }> {
    if (this.pool.queueSize >= MAX_WAITING) throw new ServiceUnavailableError("Too many batches are being read right now; retry shortly.", { code: "server_busy", retryAfterSeconds: 2 });
    const { port1, port2 } = new MessageChannel();
    const items: NativeBatchItem[] = [];
    receive(port1, this.models, items);
    // A buffer of its own is handed over without a copy; a slice of a shared one is copied.
    const { bytes } = body;
    const owned = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
    let outcome: ParseOutcome;
    try {
      outcome = await this.pool.run({ body, port: port2 }, { transferList: owned ? [port2, bytes.buffer as ArrayBuffer] : [port2] });
    } finally {
      port1.close();
    }
    if (!outcome.ok) throw refusal(outcome.error);
    if (items.length !== outcome.count) throw new Error(`batch parser: ${items.length} of ${outcome.count} items arrived`);
    return { request: { ...outcome.batch, items }, digest: outcome.digest };
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
