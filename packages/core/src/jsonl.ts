/**
 * One line of a JSONL stream: its 1-based number and text (without the line break); `text` is null for a
 * line longer than `maxLineBytes`, which is always the last line yielded: nothing after it is read.
 */
export interface JsonlLine {
  line: number;
  text: string | null;
}

const NEWLINE = 0x0a;
const utf8 = new TextDecoder();

function lineText(bytes: Uint8Array): string {
  const text = utf8.decode(bytes);
  return text.endsWith("\r") ? text.slice(0, -1) : text;
}

/** `pieces` joined into one array (Buffer.concat without Node). */
function concat(pieces: readonly Uint8Array[]): Uint8Array {
  const joined = new Uint8Array(pieces.reduce((sum, piece) => sum + piece.length, 0));
  let at = 0;
  for (const piece of pieces) {
    joined.set(piece, at);
    at += piece.length;
  }
  return joined;
}

/**
 * Splits a byte stream into lines as it arrives (LF or CRLF), holding at most one line. Each chunk is
 * searched once, from where the last search stopped: a line spread over many chunks is kept as the list
 * of its pieces and joined once, so the work is linear in the stream's length (searching a growing
 * string from its start for every chunk made a 100 MB line take seconds). A line passing `maxLineBytes`
 * ends the stream at once, reported with `text: null`. UTF-8 never has a 0x0A byte inside a character,
 * so each line decodes on its own.
 */
export async function* jsonlLines(chunks: AsyncIterable<Uint8Array>, options: { maxLineBytes?: number } = {}): AsyncGenerator<JsonlLine> {
  const maxLineBytes = options.maxLineBytes ?? Number.POSITIVE_INFINITY;
  let pieces: Uint8Array[] = [];
  let pendingBytes = 0;
  let line = 0;
  for await (const chunk of chunks) {
    const buffer = chunk;
    let start = 0;
    for (let newline = buffer.indexOf(NEWLINE); newline !== -1; newline = buffer.indexOf(NEWLINE, start)) {
      line += 1;
      const tail = buffer.subarray(start, newline);
      if (pendingBytes + tail.length > maxLineBytes) {
        yield { line, text: null };
        return;
      }
      yield { line, text: lineText(pieces.length === 0 ? tail : concat([...pieces, tail])) };
      pieces = [];
      pendingBytes = 0;
      start = newline + 1;
    }
    if (start < buffer.length) {
      pendingBytes += buffer.length - start;
      if (pendingBytes > maxLineBytes) {
        yield { line: line + 1, text: null };
        return;
      }
      pieces.push(buffer.subarray(start));
    }
  }
  if (pendingBytes > 0) yield { line: line + 1, text: lineText(concat(pieces)) };
}
