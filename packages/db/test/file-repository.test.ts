import { createTestDatabase } from "@llmq/testkit";
import { type Database, FILE_CHUNK_BYTES, FileRepository, UserRepository, createDatabase, isFileId } from "../src";

let db: Database;
let drop: () => Promise<void>;
let files: FileRepository;
let ownerId: string;
const viewer = () => ({ userId: ownerId, isAdmin: false });

beforeAll(async () => {
  const database = await createTestDatabase();
  drop = database.drop;
  db = createDatabase({ databaseUrl: database.url });
  files = new FileRepository(db);
  ownerId = (await new UserRepository(db).create("owner")).id;
});
afterAll(async () => {
  await db.$disconnect();
  await drop();
});

/** `pieces` as an async source, as a request stream would hand them over. */
async function* source(...pieces: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const piece of pieces) yield piece;
}

async function readAll(content: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of content) parts.push(part);
  return Buffer.concat(parts);
}

describe("FileRepository", () => {
  it("regroups odd-sized pieces into 1 MiB chunks and reads them back in order, across pages", async () => {
    const content = Buffer.alloc(9 * FILE_CHUNK_BYTES + 12_345);
    for (let i = 0; i < content.length; i++) content[i] = i % 251;
    const pieces = [];
    for (let at = 0; at < content.length; at += 300_007) pieces.push(content.subarray(at, at + 300_007));

    const staged = await files.stage({ ownerId, filename: "data.bin" }, source(...pieces));
    expect(isFileId(staged.id)).toBe(true);
    expect(staged.bytes).toBe(content.length);
    const chunks = await db.fileChunk.findMany({ where: { fileId: staged.id }, orderBy: { seq: "asc" }, select: { seq: true, data: true } });
    expect(chunks.map((c) => c.seq)).toEqual([...Array(10).keys()]);
    expect(chunks.map((c) => c.data.length)).toEqual([...Array(9).fill(FILE_CHUNK_BYTES), 12_345]);

    await files.publish(staged, "user_data");
    expect((await readAll(files.content(staged.id))).equals(content)).toBe(true);
  });

  it("counts lines, with or without a final newline", async () => {
    const count = async (text: string) => (await files.stage({ ownerId, filename: "t" }, source(Buffer.from(text)))).lines;
    expect(await count("a\nb\nc\n")).toBe(3);
    expect(await count("a\nb\nc")).toBe(3);
    expect(await count("\n")).toBe(1);
    expect(await count("")).toBe(0);
  });

  it("keeps a staged file invisible until it is published", async () => {
    const staged = await files.stage({ ownerId, filename: "pending.jsonl" }, source(Buffer.from("{}\n")));
    expect(await files.findVisible(staged.id, viewer())).toBeNull();
    expect(await files.findVisible(staged.id, { userId: ownerId, isAdmin: true })).toBeNull();
    expect((await files.list({ viewer: viewer(), limit: 100, order: "desc" })).files.map((f) => f.id)).not.toContain(staged.id);
    expect(await files.delete(staged.id, viewer())).toBe(false);

    const file = await files.publish(staged, "batch");
    expect(file).toMatchObject({ id: staged.id, purpose: "batch", bytes: 3n, lines: 1 });
    expect(await files.findVisible(staged.id, viewer())).toEqual(file);
  });

  it("removes every chunk already written when the source fails midway", async () => {
    async function* failing() {
      yield Buffer.alloc(FILE_CHUNK_BYTES * 2 + 10);
      throw new Error("client went away");
    }
    const before = { files: await db.file.count(), chunks: await db.fileChunk.count() };
    await expect(files.stage({ ownerId, filename: "broken" }, failing())).rejects.toThrow("client went away");
    expect({ files: await db.file.count(), chunks: await db.fileChunk.count() }).toEqual(before);
  });

  it("shows a file only to its owner and the admin", async () => {
    const file = await files.create({ ownerId, filename: "mine.jsonl", purpose: "batch" }, source(Buffer.from("{}\n")));
    const stranger = { userId: (await new UserRepository(db).create("stranger")).id, isAdmin: false };
    expect(await files.findVisible(file.id, stranger)).toBeNull();
    expect(await files.delete(file.id, stranger)).toBe(false);
    expect((await files.list({ viewer: stranger, limit: 100, order: "desc" })).files).toEqual([]);
    expect(await files.findVisible(file.id, { userId: stranger.userId, isAdmin: true })).toEqual(file);
    expect(await files.delete(file.id, viewer())).toBe(true);
    expect(await db.fileChunk.count({ where: { fileId: file.id } })).toBe(0);
  });

  it("purges an owner's old staged uploads and nothing else", async () => {
    const old = await files.stage({ ownerId, filename: "abandoned" }, source(Buffer.from("x")));
    const kept = await files.create({ ownerId, filename: "kept", purpose: "batch" }, source(Buffer.from("y")));
    await files.purgeAbandoned(ownerId, new Date(Date.now() + 60_000));
    expect(await db.file.count({ where: { id: old.id } })).toBe(0);
    expect(await db.file.count({ where: { id: kept.id } })).toBe(1);
  });
});
