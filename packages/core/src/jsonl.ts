import { StringDecoder } from "node:string_decoder";

/** One line of a JSONL stream: its 1-based number and text (without the line break). */
export interface JsonlLine {
  line: number;
  text: string;
}

/** Splits a byte stream into lines as it arrives (LF or CRLF), never holding more than one line. */
export async function* jsonlLines(chunks: AsyncIterable<Buffer | Uint8Array>): AsyncGenerator<JsonlLine> {
  const decoder = new StringDecoder("utf8");
  let pending = "";
  let line = 0;
  for await (const chunk of chunks) {
    pending += decoder.write(Buffer.from(chunk));
    // Walk the buffer with an offset and cut it once per chunk: slicing per line would copy it per line.
    let start = 0;
    for (let newline = pending.indexOf("\n"); newline !== -1; newline = pending.indexOf("\n", start)) {
      line += 1;
      yield { line, text: pending.slice(start, newline).replace(/\r$/, "") };
      start = newline + 1;
    }
    pending = pending.slice(start);
  }
  pending += decoder.end();
  if (pending.length > 0) yield { line: line + 1, text: pending.replace(/\r$/, "") };
}
