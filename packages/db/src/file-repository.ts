import { randomBytes } from "node:crypto";
import type { Pool, PoolClient } from "pg";
import { isSupportedDate } from "@llmq/core";
import { type Database, poolOf } from "./client";
import type { File, Prisma } from "./generated/prisma/client";
import type { Viewer } from "./task-repository";

export type FileRecord = File;

/** Size of one `file_chunks` row: big enough that a 200 MB file is 200 rows, small enough to hold in memory. */
export const FILE_CHUNK_BYTES = 1024 * 1024;
/** Chunks read per query when streaming content back: a few MiB in memory at most. */
const CHUNKS_PER_PAGE = 4;
const NEWLINE = 0x0a;

/**
 * The purpose of a file still being written. The form's `purpose` may arrive after its bytes, so the row
 * is created without one; every read skips such rows, so a half-written file is never visible.
 */
const STAGED_PURPOSE = "";
const published: Prisma.FileWhereInput = { NOT: { purpose: STAGED_PURPOSE } };

/**
 * What one owner may store: files (staged ones included) and bytes in all; 0 = no limit. `expectedBytes`,
 * the upload's announced size, is reserved at once so concurrent uploads do not split the rest between them.
 */
export interface FileQuota {
  maxFiles: number;
  maxBytes: number;
  expectedBytes?: number;
}

/** An upload refused by its owner's quota: `limit` says which one, `max` its value. */
export class FileQuotaExceeded extends Error {
  constructor(
    readonly limit: "files" | "bytes",
    readonly max: number,
  ) {
    super(`the owner's ${limit} quota (${max}) is reached`);
    this.name = "FileQuotaExceeded";
  }
}

/** Bytes an upload reserves at a time beyond what it announced. */
const RESERVATION_STEP = FILE_CHUNK_BYTES;

/** A file whose bytes are all stored but which nobody can see until `publish`. */
export interface StagedFile {
  id: string;
  bytes: number;
  lines: number;
}

export interface FileListQuery {
  viewer: Viewer;
  purpose?: string;
  limit: number;
  order: "asc" | "desc";
  /** Id of the last file of the previous page. */
  after?: string;
}

/**
 * `file-` + 32 hex: 12 of them the creation time in milliseconds, 20 random. Ids sort like creation
 * times, so a list cursor (`after=<id>`) holds its own position and survives the deletion of its file.
 */
function newFileId(now: Date): string {
  return `file-${now.getTime().toString(16).padStart(12, "0")}${randomBytes(10).toString("hex")}`;
}

/** True when `value` has the shape of an uploaded file's id (cheap check before touching the database). */
export function isFileId(value: string): boolean {
  return fileIdTime(value) !== null;
}

/** The creation time held in a file id; null for anything that is not one of our ids (a time no id can hold included). */
function fileIdTime(id: string): Date | null {
  const match = /^file-([0-9a-f]{12})[0-9a-f]{20}$/.exec(id);
  const time = match?.[1] ? new Date(Number.parseInt(match[1], 16)) : null;
  return time && isSupportedDate(time) ? time : null;
}

/** Files past `after` (a file id) in `order`: keyset on (created_at, id), the time read from the id itself. */
function afterCursor(after: string, order: "asc" | "desc"): Prisma.FileWhereInput {
  const time = fileIdTime(after);
  if (!time) throw new Error(`not a file id: ${after}`);
  return order === "desc"
    ? { OR: [{ createdAt: { lt: time } }, { createdAt: time, id: { lt: after } }] }
    : { OR: [{ createdAt: { gt: time } }, { createdAt: time, id: { gt: after } }] };
}

/** Regroups a byte stream into `size`-byte buffers (the last one shorter); pulls no more than it needs. */
async function* rechunk(source: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Buffer> {
  let buffer = Buffer.allocUnsafe(size);
  let filled = 0;
  for await (const piece of source) {
    let offset = 0;
    while (offset < piece.length) {
      const taken = Math.min(size - filled, piece.length - offset);
      buffer.set(piece.subarray(offset, offset + taken), filled);
      filled += taken;
      offset += taken;
      if (filled === size) {
        yield buffer;
        buffer = Buffer.allocUnsafe(size);
        filled = 0;
      }
    }
  }
  if (filled > 0) yield buffer.subarray(0, filled);
}

function countNewlines(chunk: Buffer): number {
  let count = 0;
  for (let at = chunk.indexOf(NEWLINE); at !== -1; at = chunk.indexOf(NEWLINE, at + 1)) count++;
  return count;
}

/**
 * Files (OpenAI Files API) stored in Postgres: a `files` row and its bytes in 1 MiB `file_chunks` rows, so
 * any API process can serve any file. Content is written and read as streams, never held whole.
 * Chunks go straight through pg, on Prisma's own pool (see `poolOf`); file rows through Prisma.
 */
export class FileRepository {
  private readonly pool: Pool;

  constructor(private readonly db: Database) {
    this.pool = poolOf(db);
  }

  /**
   * Stores `content` under a new, invisible file, one chunk row at a time: the next bytes are pulled only
   * once the previous insert is done (backpressure). On any failure, of the source or of Postgres, the
   * row and its chunks are deleted before the error is rethrown.
   */
  async stage(input: { ownerId: string; filename: string; quota?: FileQuota }, content: AsyncIterable<Uint8Array>): Promise<StagedFile> {
    const createdAt = new Date();
    const id = newFileId(createdAt);
    const { quota } = input;
    if (quota && (quota.maxFiles > 0 || quota.maxBytes > 0)) await this.createWithinQuota({ id, ownerId: input.ownerId, filename: input.filename, createdAt }, quota);
    else await this.db.file.create({ data: { id, ownerId: input.ownerId, filename: input.filename, purpose: STAGED_PURPOSE, createdAt } });
    try {
      let seq = 0;
      let bytes = 0;
      let lines = 0;
      let lastByte: number | undefined;
      const counted = quota && quota.maxBytes > 0 ? this.reserving(id, input.ownerId, quota, content) : content;
      for await (const chunk of rechunk(counted, FILE_CHUNK_BYTES)) {
        await this.pool.query("INSERT INTO file_chunks (file_id, seq, data) VALUES ($1, $2, $3)", [id, seq++, chunk]);
        bytes += chunk.length;
        lines += countNewlines(chunk);
        lastByte = chunk[chunk.length - 1];
      }
      // A last line without its newline still counts.
      if (lastByte !== undefined && lastByte !== NEWLINE) lines++;
      return { id, bytes, lines };
    } catch (error) {
      await this.discard(id).catch(() => undefined); // the original error matters more; a leftover is invisible and purged later
      throw error;
    }
  }

  /**
   * Per-owner quota checks run one at a time for each owner (a transaction-scoped advisory lock), so
   * concurrent uploads of one owner can never together pass a quota.
   */
  private async underOwnerLock<T>(ownerId: string, work: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      await client.query("SELECT pg_advisory_xact_lock(hashtextextended('llmq.files:' || $1, 0))", [ownerId]);
      const result = await work(client);
      await client.query("COMMIT");
      return result;
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  /** Creates the staged row unless the owner already has `maxFiles` files (staged ones count). */
  private async createWithinQuota(row: { id: string; ownerId: string; filename: string; createdAt: Date }, quota: FileQuota): Promise<void> {
    await this.underOwnerLock(row.ownerId, async (client) => {
      if (quota.maxFiles > 0) {
        const { rows } = await client.query<{ files: string }>("SELECT count(*) AS files FROM files WHERE owner_id = $1", [row.ownerId]);
        if (Number(rows[0]?.files ?? 0) >= quota.maxFiles) throw new FileQuotaExceeded("files", quota.maxFiles);
      }
      await client.query("INSERT INTO files (id, owner_id, filename, purpose, bytes, lines, created_at) VALUES ($1, $2, $3, $4, 0, 0, $5)", [
        row.id,
        row.ownerId,
        row.filename,
        STAGED_PURPOSE,
        row.createdAt,
      ]);
    });
  }

  /**
   * Adds up to `wanted` bytes to the staged file's reservation (its `bytes` while it is staged), as much
   * as the owner's `maxBytes` leaves; returns how many were granted.
   */
  private async reserve(id: string, ownerId: string, wanted: number, maxBytes: number): Promise<number> {
    return this.underOwnerLock(ownerId, async (client) => {
      const { rows } = await client.query<{ used: string }>("SELECT coalesce(sum(bytes), 0)::text AS used FROM files WHERE owner_id = $1", [ownerId]);
      const granted = Math.max(0, Math.min(wanted, maxBytes - Number(rows[0]?.used ?? 0)));
      if (granted > 0) await client.query("UPDATE files SET bytes = bytes + $2 WHERE id = $1", [id, granted]);
      return granted;
    });
  }

  /**
   * `content`, checked against the owner's bytes quota as it arrives: bytes are reserved before they are
   * passed on (the announced size at once, then a chunk at a time), and the first piece that no
   * reservation can cover fails the upload. Publishing sets the real size, giving back what was not used.
   */
  private async *reserving(id: string, ownerId: string, quota: FileQuota, content: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    let reserved = quota.expectedBytes ? await this.reserve(id, ownerId, quota.expectedBytes, quota.maxBytes) : 0;
    let received = 0;
    for await (const piece of content) {
      received += piece.length;
      if (received > reserved) reserved += await this.reserve(id, ownerId, Math.max(received - reserved, RESERVATION_STEP), quota.maxBytes);
      if (received > reserved) throw new FileQuotaExceeded("bytes", quota.maxBytes);
      yield piece;
    }
  }

  /** Makes a staged file visible, with its purpose, size and line count. */
  async publish(file: StagedFile, purpose: string): Promise<FileRecord> {
    if (purpose === STAGED_PURPOSE) throw new Error("a published file needs a purpose");
    return this.db.file.update({ where: { id: file.id, purpose: STAGED_PURPOSE }, data: { purpose, bytes: file.bytes, lines: file.lines } });
  }

  /** Stores and publishes in one call: for files the service writes itself (e.g. batch results). */
  async create(input: { ownerId: string; filename: string; purpose: string }, content: AsyncIterable<Uint8Array>): Promise<FileRecord> {
    const staged = await this.stage(input, content);
    try {
      return await this.publish(staged, input.purpose);
    } catch (error) {
      await this.discard(staged.id).catch(() => undefined);
      throw error;
    }
  }

  /** Deletes a file and its chunks whoever owns it, published or not (cleanup after a failed upload). */
  async discard(id: string): Promise<void> {
    await this.db.file.deleteMany({ where: { id } });
  }

  /** Deletes `ownerId`'s uploads left staged since before `before` (their process died mid-upload). */
  async purgeAbandoned(ownerId: string, before: Date): Promise<number> {
    const { count } = await this.db.file.deleteMany({ where: { ownerId, purpose: STAGED_PURPOSE, createdAt: { lt: before } } });
    return count;
  }

  /** The file if `viewer` may see it; null otherwise, so other tenants cannot learn it exists. */
  async findVisible(id: string, viewer: Viewer): Promise<FileRecord | null> {
    return this.db.file.findFirst({ where: { id, ...published, ...(viewer.isAdmin ? {} : { ownerId: viewer.userId }) } });
  }

  /** One page of the files `viewer` may see, by creation time; `hasMore` when another page follows. */
  async list(query: FileListQuery): Promise<{ files: FileRecord[]; hasMore: boolean }> {
    const where: Prisma.FileWhereInput = {
      ...published,
      ...(query.viewer.isAdmin ? {} : { ownerId: query.viewer.userId }),
      ...(query.purpose ? { purpose: query.purpose } : {}),
    };
    const rows = await this.db.file.findMany({
      where: query.after ? { AND: [where, afterCursor(query.after, query.order)] } : where,
      orderBy: [{ createdAt: query.order }, { id: query.order }],
      take: query.limit + 1,
    });
    return { files: rows.slice(0, query.limit), hasMore: rows.length > query.limit };
  }

  /** Deletes a file `viewer` may see, with its chunks. False when there is none. */
  async delete(id: string, viewer: Viewer): Promise<boolean> {
    const { count } = await this.db.file.deleteMany({ where: { id, ...published, ...(viewer.isAdmin ? {} : { ownerId: viewer.userId }) } });
    return count === 1;
  }

  /** The file's bytes in order, read a few chunks per query. Check visibility first (`findVisible`). */
  async *content(id: string): AsyncGenerator<Buffer> {
    let next = 0;
    for (;;) {
      const { rows: page } = await this.pool.query<{ seq: number; data: Buffer }>(
        "SELECT seq, data FROM file_chunks WHERE file_id = $1 AND seq >= $2 ORDER BY seq LIMIT $3",
        [id, next, CHUNKS_PER_PAGE],
      );
      yield* page.map((chunk) => chunk.data);
      const last = page[page.length - 1];
      if (!last || page.length < CHUNKS_PER_PAGE) return;
      next = last.seq + 1;
    }
  }
}
