/** How log lines are written: JSON lines for machines, one readable line per entry for a terminal. */
export type LogFormat = "json" | "pretty";

const LEVEL_NAMES: Record<number, string> = { 10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL" };
const LEVEL_COLOURS: Record<number, string> = { 10: "90", 20: "36", 30: "32", 40: "33", 50: "31", 60: "35" };
/** Fields every line has, shown in the line's head instead of as key=value. */
const HEAD_FIELDS = new Set(["level", "time", "pid", "hostname", "name", "msg"]);
/** Longest value shown for one field; a request's headers or a long error are cut here. */
const MAX_VALUE_CHARS = 300;

/**
 * One pino JSON line as a terminal line: `12:03:04.567 INFO  api: GET /v1/models 200 1.2 ms reqId=…`,
 * the level coloured when `colour` is set; the entry's other fields follow as key=value. A line that is
 * not JSON is passed through as it is.
 */
export function prettyLogLine(line: string, colour: boolean): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith("\n") ? line : `${line}\n`;
  }
  const time = typeof entry.time === "number" ? new Date(entry.time).toISOString().slice(11, 23) : "";
  const level = typeof entry.level === "number" ? entry.level : 30;
  const levelName = (LEVEL_NAMES[level] ?? String(level)).padEnd(5);
  const head = colour ? `\u001b[${LEVEL_COLOURS[level] ?? "0"}m${levelName}\u001b[0m` : levelName;
  const fields = Object.entries(entry)
    .filter(([key]) => !HEAD_FIELDS.has(key))
    .map(([key, value]) => `${key}=${formatValue(value)}`);
  const name = typeof entry.name === "string" ? `${entry.name}: ` : "";
  return `${[time, head, `${name}${String(entry.msg ?? "")}`, ...fields].filter(Boolean).join(" ")}\n`;
}

function formatValue(value: unknown): string {
  const text = typeof value === "string" ? (/[\s"=]/.test(value) || value === "" ? JSON.stringify(value) : value) : JSON.stringify(value);
  return text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS)}…` : text;
}
