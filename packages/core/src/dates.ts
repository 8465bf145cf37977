/** First and last instants of years 1 to 9999 (Date.UTC reads years 0-99 as 1900-1999, hence setUTCFullYear). */
const EARLIEST_MS = new Date(0).setUTCFullYear(1, 0, 1);
const LATEST_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/**
 * True when `date` is valid and falls in years 1 to 9999: four-digit ISO 8601 years, what every store and
 * client here handles. Dates a caller can choose (query filters, cursors, ids holding a time) are checked
 * with it at the edge: outside that range Postgres or its driver fails, which would read as our fault.
 */
export function isSupportedDate(date: Date): boolean {
  const time = date.getTime();
  return !Number.isNaN(time) && time >= EARLIEST_MS && time <= LATEST_MS;
}
