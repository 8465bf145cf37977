/**
 * The path of the first string (or key) holding a NUL character, which Postgres text cannot store;
 * null if none. Checked at the edges so such input is refused with a 400 naming the field instead of
 * failing later as a database error.
 */
export function nulCharacterPath(value: unknown, path: string[] = []): string[] | null {
  if (typeof value === "string") return value.includes("\u0000") ? path : null;
  if (value === null || typeof value !== "object") return null;
  for (const [key, item] of Object.entries(value)) {
    if (key.includes("\u0000")) return [...path, key];
    const found = nulCharacterPath(item, [...path, key]);
    if (found) return found;
  }
  return null;
}
