import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { once } from "node:events";

/**
 * Copies a batch input file line by line into a temporary file, giving `model` to every request whose
 * body has none. Lines that are not JSON objects are copied as they are: the server reports them.
 * Returns the copy's path and a function that removes it.
 */
export async function withDefaultModel(file: string, model: string): Promise<{ file: string; remove: () => void }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "llmq-"));
  const copy = path.join(dir, path.basename(file));
  const remove = () => fs.rmSync(dir, { recursive: true, force: true });
  try {
    const out = fs.createWriteStream(copy);
    const lines = readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity });
    for await (const line of lines) {
      if (!out.write(`${fillModel(line, model)}\n`)) await once(out, "drain");
    }
    out.end();
    await once(out, "finish");
    return { file: copy, remove };
  } catch (error) {
    remove();
    throw error;
  }
}

function fillModel(line: string, model: string): string {
  if (line.trim() === "") return line;
  let request: unknown;
  try {
    request = JSON.parse(line);
  } catch {
    return line;
  }
  const body = (request as { body?: unknown } | null)?.body;
  if (typeof body !== "object" || body === null || Array.isArray(body) || "model" in body) return line;
  return JSON.stringify({ ...(request as object), body: { ...body, model } });
}
