// The official `openai` package against /v1/files: uploads streamed into Postgres chunks and read back.
import { createHash } from "node:crypto";
import { json } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";
import OpenAI, { BadRequestError, NotFoundError, toFile } from "openai";
import type { FileObject } from "openai/resources/files";
import { sdkClient, sdkError } from "./openai-sdk-support";

const MiB = 1024 * 1024;

/** A batch input file of `count` lines, each a chat request (as the Batch API reads them). */
function batchJsonl(count: number, tag = "x"): Buffer {
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    lines.push(JSON.stringify({ custom_id: `${tag}-${i}`, method: "POST", url: "/v1/chat/completions", body: { model: "gemma-7b", messages: [{ role: "user", content: `Say ${i}, café ☕` }], max_tokens: 5 } }));
  }
  return Buffer.from(`${lines.join("\n")}\n`);
}

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** SHA-256 of a response body, read as a stream so a large file is never held whole. */
async function streamedSha256(response: Response): Promise<{ hash: string; bytes: number }> {
  const hash = createHash("sha256");
  let bytes = 0;
  const reader = response.body!.getReader();
  for (let part = await reader.read(); !part.done; part = await reader.read()) {
    hash.update(part.value);
    bytes += part.value.length;
  }
  return { hash: hash.digest("hex"), bytes };
}

async function createTenant(stack: TestStack, name: string): Promise<OpenAI> {
  const res = await stack.request("/v1/admin/keys", { method: "POST", json: { name } });
  expect(res.status).toBe(201);
  return sdkClient(stack, (await json(res)).data.data.key as string);
}

/** Rows of `file_chunks` (of one file, or all of them). */
const chunkRows = (stack: TestStack, fileId?: string) => stack.api.deps.db.fileChunk.count(fileId ? { where: { fileId } } : undefined);

/** `POST /v1/files` with a hand-built form, for the requests the SDK would not send. */
function postForm(stack: TestStack, form: FormData) {
  return stack.request("/v1/files", { method: "POST", body: form });
}

describe("the Files API through the openai SDK", () => {
  let stack: TestStack;
  let client: OpenAI;
  beforeAll(async () => {
    stack = await startTestStack({ worker: false });
    client = sdkClient(stack);
  });
  afterAll(async () => {
    await stack.close();
  });

  it("uploads a JSONL file, describes it as OpenAI does, and serves it back byte for byte", async () => {
    const content = batchJsonl(3);
    const before = Math.floor(Date.now() / 1000);
    const file = await client.files.create({ file: await toFile(content, "requests.jsonl"), purpose: "batch" });

    expect(file).toEqual({
      id: expect.stringMatching(/^file-[0-9a-f]{32}$/),
      object: "file",
      bytes: content.length,
      created_at: expect.any(Number),
      filename: "requests.jsonl",
      purpose: "batch",
      status: "processed",
      status_details: null,
      expires_at: expect.any(Number),
    });
    // Deleted by the workers FILE_RETENTION_DAYS (default 30) after its upload.
    expect(file.expires_at).toBe(file.created_at + 30 * 86_400);
    expect(file.created_at).toBeGreaterThanOrEqual(before);
    expect(file.created_at).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000));
    expect(await client.files.retrieve(file.id)).toEqual(file);

    const response = await client.files.content(file.id);
    expect(response.headers.get("content-type")).toBe("application/octet-stream");
    expect(response.headers.get("content-length")).toBe(String(content.length));
    expect(await response.text()).toBe(content.toString("utf8"));

    const row = await stack.api.deps.db.file.findUniqueOrThrow({ where: { id: file.id } });
    expect(row.lines).toBe(3);
  });

  it("keeps a UTF-8 filename and accepts purpose user_data", async () => {
    const file = await client.files.create({ file: await toFile(Buffer.from("no newline at the end"), "données é.txt"), purpose: "user_data" });
    expect(file).toMatchObject({ filename: "données é.txt", purpose: "user_data", bytes: 21 });
    expect((await stack.api.deps.db.file.findUniqueOrThrow({ where: { id: file.id } })).lines).toBe(1);
    expect(await (await client.files.content(file.id)).text()).toBe("no newline at the end");
  });

  it("stores a 50,000-line file (about 10 MB) in 1 MiB chunks and streams it back intact", async () => {
    const content = batchJsonl(50_000, "big");
    expect(content.length).toBeGreaterThan(8 * MiB);
    const file = await client.files.create({ file: await toFile(content, "big.jsonl"), purpose: "batch" });

    expect(file.bytes).toBe(content.length);
    expect(await chunkRows(stack, file.id)).toBe(Math.ceil(content.length / MiB));
    expect((await stack.api.deps.db.file.findUniqueOrThrow({ where: { id: file.id } })).lines).toBe(50_000);
    expect(await streamedSha256(await client.files.content(file.id))).toEqual({ hash: sha256(content), bytes: content.length });
  });

  it("lists a tenant's files newest first, a page at a time, filtered by purpose", async () => {
    const tenant = await createTenant(stack, "lister");
    expect((await tenant.files.list()).data).toEqual([]);
    const uploaded: FileObject[] = [];
    for (const [i, purpose] of (["batch", "user_data", "batch", "batch", "user_data"] as const).entries()) {
      uploaded.push(await tenant.files.create({ file: await toFile(batchJsonl(i + 1, `f${i}`), `f${i}.jsonl`), purpose }));
    }
    const newestFirst = uploaded.map((f) => f.id).reverse();

    const first = await tenant.files.list({ limit: 2 });
    expect(first.data.map((f) => f.id)).toEqual(newestFirst.slice(0, 2));
    expect(first.has_more).toBe(true);
    const raw = await json(await stack.request("/v1/files?limit=2", { key: tenant.apiKey! }));
    expect(raw).toMatchObject({ object: "list", first_id: newestFirst[0], last_id: newestFirst[1], has_more: true });

    // The SDK follows `after` = the last id of each page until has_more is false.
    const all: string[] = [];
    for await (const file of tenant.files.list({ limit: 2 })) all.push(file.id);
    expect(all).toEqual(newestFirst);

    const second = await tenant.files.list({ limit: 2, after: newestFirst[1] });
    expect(second.data.map((f) => f.id)).toEqual(newestFirst.slice(2, 4));
    const last = await tenant.files.list({ limit: 2, after: newestFirst[3] });
    expect(last.data.map((f) => f.id)).toEqual(newestFirst.slice(4));
    expect(last.has_more).toBe(false);

    expect((await tenant.files.list({ order: "asc" })).data.map((f) => f.id)).toEqual(uploaded.map((f) => f.id));
    expect((await tenant.files.list({ order: "asc", limit: 2, after: uploaded[1]!.id })).data.map((f) => f.id)).toEqual([uploaded[2]!.id, uploaded[3]!.id]);
    expect((await tenant.files.list({ purpose: "user_data" })).data.map((f) => f.id)).toEqual([uploaded[4]!.id, uploaded[1]!.id]);
    expect((await tenant.files.list({ purpose: "batch" })).data).toHaveLength(3);

    // A cursor still works once its own file is deleted: the position is in the id.
    await tenant.files.delete(newestFirst[1]!);
    expect((await tenant.files.list({ limit: 2, after: newestFirst[1] })).data.map((f) => f.id)).toEqual(newestFirst.slice(2, 4));
  });

  it("deletes a file and its chunks; afterwards it is not found anywhere", async () => {
    const file = await client.files.create({ file: await toFile(batchJsonl(2), "gone.jsonl"), purpose: "batch" });
    expect(await chunkRows(stack, file.id)).toBe(1);

    expect(await client.files.delete(file.id)).toEqual({ id: file.id, object: "file", deleted: true });
    expect(await chunkRows(stack, file.id)).toBe(0);
    for (const call of [() => client.files.retrieve(file.id), () => client.files.content(file.id), () => client.files.delete(file.id)]) {
      const error = await sdkError(call);
      expect(error).toBeInstanceOf(NotFoundError);
      expect(error.error).toMatchObject({ code: "file_not_found", param: "file_id" });
    }
    expect((await client.files.list()).data.map((f) => f.id)).not.toContain(file.id);
  });

  it("hides a tenant's file from another tenant (404, never 403) but shows it to the admin", async () => {
    const owner = await createTenant(stack, "owner");
    const other = await createTenant(stack, "other");
    const file = await owner.files.create({ file: await toFile(batchJsonl(1), "private.jsonl"), purpose: "batch" });

    for (const call of [() => other.files.retrieve(file.id), () => other.files.content(file.id), () => other.files.delete(file.id)]) {
      const error = await sdkError(call);
      expect(error).toBeInstanceOf(NotFoundError);
      expect(error.error).toMatchObject({ code: "file_not_found", param: "file_id" });
    }
    expect((await other.files.list()).data).toEqual([]);
    expect(await owner.files.retrieve(file.id)).toEqual(file);

    expect(await client.files.retrieve(file.id)).toEqual(file);
    expect((await client.files.list()).data.map((f) => f.id)).toContain(file.id);
  });

  it("refuses a purpose other than batch or user_data, and stores nothing", async () => {
    const files = await stack.api.deps.db.file.count();
    const chunks = await chunkRows(stack);
    for (const purpose of ["fine-tune", "assistants"] as const) {
      const error = await sdkError(async () => client.files.create({ file: await toFile(batchJsonl(2), "x.jsonl"), purpose }));
      expect(error).toBeInstanceOf(BadRequestError);
      expect(error.error).toMatchObject({ param: "purpose", type: "invalid_request_error" });
    }
    // The purpose first, then the file: refused as well.
    const form = new FormData();
    form.append("purpose", "vision");
    form.append("file", new Blob([batchJsonl(2)]), "x.jsonl");
    const res = await postForm(stack, form);
    expect(res.status).toBe(400);
    expect((await json(res)).error).toMatchObject({ param: "purpose" });

    expect(await stack.api.deps.db.file.count()).toBe(files);
    expect(await chunkRows(stack)).toBe(chunks);
  });

  it("answers 400 naming the field for a missing file, an empty file, a missing purpose or a body that is not a form", async () => {
    const files = await stack.api.deps.db.file.count();
    const cases: Array<[FormData | string, string]> = [];
    const onlyPurpose = new FormData();
    onlyPurpose.append("purpose", "batch");
    cases.push([onlyPurpose, "file"]);
    const fileAsText = new FormData();
    fileAsText.append("purpose", "batch");
    fileAsText.append("file", "not a file part");
    cases.push([fileAsText, "file"]);
    const empty = new FormData();
    empty.append("purpose", "batch");
    empty.append("file", new Blob([]), "empty.jsonl");
    cases.push([empty, "file"]);
    const noPurpose = new FormData();
    noPurpose.append("file", new Blob(["{}\n"]), "a.jsonl");
    cases.push([noPurpose, "purpose"]);
    const extra = new FormData();
    extra.append("purpose", "batch");
    extra.append("expires_after[seconds]", "3600");
    extra.append("file", new Blob(["{}\n"]), "a.jsonl");
    cases.push([extra, "expires_after[seconds]"]);
    cases.push([JSON.stringify({ purpose: "batch" }), "file"]);

    for (const [body, param] of cases) {
      const res = await stack.request("/v1/files", { method: "POST", body, headers: typeof body === "string" ? { "content-type": "application/json" } : {} });
      expect({ param, status: res.status }).toEqual({ param, status: 400 });
      expect((await json(res)).error).toMatchObject({ param, type: "invalid_request_error" });
    }
    const error = await sdkError(async () => client.files.create({ file: await toFile(Buffer.alloc(0), "empty.jsonl"), purpose: "batch" }));
    expect(error).toBeInstanceOf(BadRequestError);
    expect(error.error).toMatchObject({ param: "file", code: "empty_file" });

    expect(await stack.api.deps.db.file.count()).toBe(files);
  });

  it("answers 404 for unknown ids and 400 for a bad list query", async () => {
    for (const id of ["file-00000000000000000000000000000000", "nope"]) {
      const error = await sdkError(() => client.files.retrieve(id));
      expect(error).toBeInstanceOf(NotFoundError);
      expect(error.error).toMatchObject({ code: "file_not_found", param: "file_id" });
    }
    for (const [query, param] of [["limit=0", "limit"], ["limit=10001", "limit"], ["order=up", "order"], ["after=nope", "after"], ["colour=red", "colour"]] as const) {
      const res = await stack.request(`/v1/files?${query}`);
      expect({ query, status: res.status }).toEqual({ query, status: 400 });
      expect((await json(res)).error).toMatchObject({ param });
    }
    const res = await stack.request("/v1/files/a/b/c");
    expect(res.status).toBe(404);
    expect((await json(res)).error).toMatchObject({ code: "route_not_found" });
  });

  it("requires a key", async () => {
    const res = await fetch(`${stack.url}/v1/files`);
    expect(res.status).toBe(401);
    expect((await json(res)).error).toMatchObject({ code: "invalid_api_key" });
  });
});

describe("FILES_MAX_BYTES", () => {
  const limited = (limit: number) => {
    const context = {} as { stack: TestStack; client: OpenAI };
    beforeAll(async () => {
      context.stack = await startTestStack({ worker: false, env: { FILES_MAX_BYTES: String(limit) } });
      context.client = sdkClient(context.stack);
    });
    afterAll(async () => {
      await context.stack.close();
    });
    return context;
  };

  describe("below one chunk", () => {
    const context = limited(1000);

    it("answers 413 past the limit and keeps no row; a file of exactly the limit is stored", async () => {
      const { stack, client } = context;
      const error = await sdkError(async () => client.files.create({ file: await toFile(Buffer.alloc(5000, "a"), "big.jsonl"), purpose: "batch" }));
      expect(error.status).toBe(413);
      expect(error.error).toMatchObject({ param: "file", code: "payload_too_large" });
      expect(await stack.api.deps.db.file.count()).toBe(0);
      expect(await chunkRows(stack)).toBe(0);

      const exact = await client.files.create({ file: await toFile(Buffer.alloc(1000, "b"), "exact.jsonl"), purpose: "batch" });
      expect(exact.bytes).toBe(1000);
    });
  });

  describe("across several chunks", () => {
    const context = limited(2 * MiB + 1000);

    it("removes the chunks already written when the upload passes the limit midway", async () => {
      const { stack, client } = context;
      const error = await sdkError(async () => client.files.create({ file: await toFile(batchJsonl(25_000), "too-big.jsonl"), purpose: "batch" }));
      expect(error.status).toBe(413);
      expect(await stack.api.deps.db.file.count()).toBe(0);
      expect(await chunkRows(stack)).toBe(0);

      // The connection still serves the next request.
      const small = await client.files.create({ file: await toFile(batchJsonl(10), "small.jsonl"), purpose: "batch" });
      expect(await client.files.retrieve(small.id)).toEqual(small);
    });
  });
});

describe("per-user file quotas", () => {
  const QUOTA_BYTES = 5 * MiB;
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack({
      worker: false,
      env: { FILES_MAX_PER_USER: "10", FILES_MAX_TOTAL_BYTES_PER_USER: String(QUOTA_BYTES), FILES_UPLOADS_PER_MINUTE: "40" },
    });
  });
  afterAll(async () => {
    await stack.close();
  });

  async function tenant(name: string): Promise<{ client: OpenAI; userId: string }> {
    const res = await stack.request("/v1/admin/keys", { method: "POST", json: { name } });
    const { key, user_id: userId } = (await json(res)).data.data;
    return { client: sdkClient(stack, key), userId };
  }
  const upload = async (client: OpenAI, bytes: number, name = "f.jsonl") => client.files.create({ file: await toFile(Buffer.alloc(bytes, "x"), name), purpose: "batch" });
  /** What the user has stored: files (staged ones too) and their bytes. */
  async function stored(userId: string) {
    const rows = await stack.api.deps.db.file.findMany({ where: { ownerId: userId } });
    return { files: rows.length, bytes: rows.reduce((sum, row) => sum + Number(row.bytes), 0) };
  }

  it("refuses the 11th file of a user with a 10-file quota (413 in OpenAI's dialect, nothing stored); a deletion frees its place", async () => {
    const { client, userId } = await tenant("eleven");
    const files: FileObject[] = [];
    for (let i = 0; i < 10; i++) files.push(await upload(client, 100, `f${i}.jsonl`));
    const error = await sdkError(() => upload(client, 100, "f10.jsonl"));
    expect(error.status).toBe(413);
    expect(error.error).toMatchObject({ type: "invalid_request_error", param: "file", code: "file_count_quota_exceeded" });
    expect(error.message).toContain("10 files");
    expect(await stored(userId)).toEqual({ files: 10, bytes: 1000 });
    // Another user is not affected.
    await upload((await tenant("neighbour")).client, 100);

    await client.files.delete(files[0]!.id);
    await upload(client, 100, "again.jsonl");
    expect((await stored(userId)).files).toBe(10);
  });

  it("refuses an upload that would pass the user's bytes quota as it passes, keeps none of it, and frees bytes on deletion", async () => {
    const { client, userId } = await tenant("bytes");
    const big = await upload(client, 4 * MiB);
    const error = await sdkError(() => upload(client, 2 * MiB));
    expect(error.status).toBe(413);
    expect(error.error).toMatchObject({ param: "file", code: "file_storage_quota_exceeded" });
    expect(await stored(userId)).toEqual({ files: 1, bytes: 4 * MiB });
    expect(await stack.api.deps.db.fileChunk.count({ where: { file: { ownerId: userId } } })).toBe(4);

    // Exactly up to the quota is fine.
    await upload(client, MiB);
    expect(await stored(userId)).toEqual({ files: 2, bytes: QUOTA_BYTES });
    await client.files.delete(big.id);
    await upload(client, 2 * MiB);
    expect((await stored(userId)).bytes).toBe(3 * MiB);
  });

  it("concurrent uploads of one user never take it past its quotas", async () => {
    const { client, userId } = await tenant("racer");
    // Eight uploads of 1.5 MiB at once against 5 MiB: at most three fit.
    const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => upload(client, 1.5 * MiB, `r${i}.jsonl`)));
    const accepted = results.filter((result) => result.status === "fulfilled");
    const refused = results.filter((result): result is PromiseRejectedResult => result.status === "rejected");
    // The SDK announces each body's size, which is reserved at once: the first three to reserve hold their
    // whole size, the others are refused as their bytes pass what is left (no split of the rest between them).
    expect(accepted.length).toBe(3);
    for (const { reason } of refused) expect((reason as { status?: number }).status).toBe(413);
    expect(await stored(userId)).toEqual({ files: accepted.length, bytes: accepted.length * 1.5 * MiB });

    // Twelve small ones at once against the 10-file quota (the accepted ones above count): exactly up to 10.
    const small = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => upload(client, 10, `s${i}.jsonl`)));
    expect(small.filter((result) => result.status === "fulfilled").length).toBe(10 - accepted.length);
    expect((await stored(userId)).files).toBe(10);
  });
});

describe("FILES_UPLOADS_PER_MINUTE", () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack({ worker: false, env: { FILES_UPLOADS_PER_MINUTE: "3" } });
  });
  afterAll(async () => {
    await stack.close();
  });

  it("answers 429 with Retry-After past a user's uploads per minute, in OpenAI's dialect; other users keep theirs", async () => {
    const user = await createTenant(stack, "uploader");
    for (let i = 0; i < 3; i++) await user.files.create({ file: await toFile(batchJsonl(1), `u${i}.jsonl`), purpose: "batch" });
    const error = await sdkError(async () => user.files.create({ file: await toFile(batchJsonl(1), "u3.jsonl"), purpose: "batch" }));
    expect(error.status).toBe(429);
    expect(error.error).toMatchObject({ type: "rate_limit_error", code: "rate_limit_exceeded" });
    expect(Number(error.headers?.get("retry-after"))).toBeGreaterThan(0);
    expect(await stack.api.deps.db.file.count()).toBe(3);
    await (await createTenant(stack, "other")).files.create({ file: await toFile(batchJsonl(1), "o.jsonl"), purpose: "batch" });
  });
});
