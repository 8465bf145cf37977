import { jsonlLines } from "../src/jsonl";

async function* pieces(...parts: (string | Buffer)[]): AsyncGenerator<Buffer> {
  for (const part of parts) yield Buffer.isBuffer(part) ? part : Buffer.from(part);
}

async function collect(source: AsyncIterable<Buffer>, options?: { maxLineBytes?: number }) {
  const lines: { line: number; text: string | null }[] = [];
  for await (const line of jsonlLines(source, options)) lines.push(line);
  return lines;
}

describe("jsonlLines", () => {
  it("splits on LF and CRLF across chunk boundaries, keeps multi-byte characters whole, and numbers every line", async () => {
    const euro = Buffer.from("€"); // three bytes, split between two chunks below
    const lines = await collect(pieces('{"a":1}\r\n{"b":', Buffer.concat([Buffer.from('"x'), euro.subarray(0, 1)]), Buffer.concat([euro.subarray(1), Buffer.from('"}\n\n{"c":3}')])));
    expect(lines).toEqual([
      { line: 1, text: '{"a":1}' },
      { line: 2, text: '{"b":"x€"}' },
      { line: 3, text: "" },
      { line: 4, text: '{"c":3}' },
    ]);
  });

  it("reports a line longer than maxLineBytes as soon as it passes the cap and reads nothing after it", async () => {
    let pulled = 0;
    async function* endless(): AsyncGenerator<Buffer> {
      yield Buffer.from('{"ok":true}\n');
      for (;;) {
        pulled += 1;
        if (pulled > 3) throw new Error("read past the cap");
        yield Buffer.alloc(64 * 1024, 0x61); // one line that never ends
      }
    }
    const lines = await collect(endless(), { maxLineBytes: 100 * 1024 });
    expect(lines).toEqual([
      { line: 1, text: '{"ok":true}' },
      { line: 2, text: null },
    ]);
    expect(pulled).toBe(2);
  });

  it("splits one 32 MiB line arriving in 64 KiB chunks in linear time (rescanning the buffer per chunk took seconds)", async () => {
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    async function* bigLine(): AsyncGenerator<Buffer> {
      for (let i = 0; i < 512; i++) yield chunk;
      yield Buffer.from("\n");
    }
    const started = performance.now();
    const lines = await collect(bigLine(), { maxLineBytes: 64 * 1024 * 1024 });
    const elapsedMs = performance.now() - started;
    expect(lines).toHaveLength(1);
    expect(lines[0]!.text).toHaveLength(32 * 1024 * 1024);
    expect(elapsedMs).toBeLessThan(1_500);
  });
});
