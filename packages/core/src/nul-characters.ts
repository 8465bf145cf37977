/**
 * The path of the first string (or key) holding a NUL character, which Postgres text cannot store;
 * null if none. Checked at the edges so such input is refused with a 400 naming the field instead of
 * failing later as a database error. Every request body passes here: the walk keeps one path it
 * pushes and pops, and copies it only for the answer.
 */
export function nulCharacterPath(value: unknown, path: string[] = []): string[] | null {
  const trail = [...path];
  return holdsNul(value, trail) ? trail : null;
}

/** True when `value` holds a NUL; `trail` then ends with the path to it (else it is as given). */
function holdsNul(value: unknown, trail: string[]): boolean {
  if (typeof value === "string") return value.includes("\u0000");
  if (value === null || typeof value !== "object") return false;
  for (const key of Object.keys(value)) {
    trail.push(key);
    if (key.includes("\u0000") || holdsNul((value as Record<string, unknown>)[key], trail)) return true;
    trail.pop();
  }
  return false;
}
