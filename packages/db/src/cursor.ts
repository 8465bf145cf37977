import { isSupportedDate } from "@llmq/core";

/** Opaque keyset cursor over (created_at DESC, task_id DESC), so pages stay fast however deep. */
export interface HistoryCursor {
  createdAt: Date;
  id: string;
}

export function encodeCursor(cursor: HistoryCursor): string {
  return Buffer.from(`${cursor.createdAt.toISOString()}|${cursor.id}`).toString("base64url");
}

/** Returns null for anything that is not a cursor we issued. */
export function decodeCursor(value: string): HistoryCursor | null {
  const decoded = Buffer.from(value, "base64url").toString("utf8");
  const [iso, id] = decoded.split("|");
  if (!iso || !id) return null;
  const createdAt = new Date(iso);
  if (!isSupportedDate(createdAt) || createdAt.toISOString() !== iso) return null;
  return { createdAt, id };
}
