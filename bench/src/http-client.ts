import http from "node:http";

/** Sockets without a pool limit: hundreds of concurrent streams must not queue behind each other in the client. */
export const agent = new http.Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });

export interface StreamTiming {
  /** ms from sending the request to the first text token. */
  firstTokenMs: number;
  /** ms between consecutive text tokens. */
  gapsMs: number[];
  tokens: number;
  /** Tokens per second over the stream, first token to last. */
  tokensPerSecond: number;
}

/** What one SSE event says: a text token, the end, or nothing of interest. */
export type SseReader = (event: string, data: string) => "token" | "end" | null;

/** Task API SSE: `event: token` frames, then `event: result`. */
export const taskApiEvents: SseReader = (event) => (event === "token" ? "token" : event === "result" ? "end" : null);

/** OpenAI chat-completions SSE (upstream or through the service): content deltas, then `[DONE]`. */
export const openAIEvents: SseReader = (_event, data) => {
  if (data === "[DONE]") return "end";
  if (!data.startsWith("{")) return null;
  const content = (JSON.parse(data) as { choices?: { delta?: { content?: string } }[] }).choices?.[0]?.delta?.content;
  return content ? "token" : null;
};

/** One server-sent event: its name (`message` when unnamed), id and data lines joined. */
export interface SseFrame {
  event: string;
  id: string;
  data: string;
}

/**
 * Splits an SSE body into events as its chunks arrive: feed each chunk to the function returned;
 * `onFrame` returning false stops the reading (later chunks are ignored).
 */
export function sseFrames(onFrame: (frame: SseFrame) => boolean | void): (chunk: string) => void {
  let buffer = "";
  let stopped = false;
  return (chunk) => {
    if (stopped) return;
    buffer += chunk;
    let end: number;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const text = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const frame: SseFrame = { event: "message", id: "", data: "" };
      const data: string[] = [];
      for (const line of text.split("\n")) {
        if (line.startsWith("event:")) frame.event = line.slice(6).trim();
        else if (line.startsWith("id:")) frame.id = line.slice(3).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
      }
      frame.data = data.join("\n");
      if (onFrame(frame) === false) {
        stopped = true;
        return;
      }
    }
  };
}

/** POSTs `body` and times the SSE answer's tokens as they arrive. */
export function timeStream(url: string, headers: Record<string, string>, body: unknown, read: SseReader): Promise<StreamTiming> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const times: number[] = [];
    const req = http.request(url, { method: "POST", agent, headers: { ...headers, "content-type": "application/json", "content-length": Buffer.byteLength(payload) } }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`${url} answered ${res.statusCode}`));
        return;
      }
      res.setEncoding("utf8");
      let ended = false;
      const finish = () => {
        if (ended) return;
        ended = true;
        res.destroy();
        if (times.length === 0) return reject(new Error(`${url}: stream ended with no token`));
        const gapsMs = times.slice(1).map((t, i) => t - times[i]!);
        const span = (times[times.length - 1]! - times[0]!) / 1000;
        resolve({ firstTokenMs: times[0]! - started, gapsMs, tokens: times.length, tokensPerSecond: span > 0 ? (times.length - 1) / span : Number.NaN });
      };
      let now = 0;
      const split = sseFrames((frame) => {
        const kind = read(frame.event, frame.data);
        if (kind === "token") times.push(now);
        else if (kind === "end") {
          finish();
          return false;
        }
      });
      res.on("data", (chunk: string) => {
        now = performance.now();
        split(chunk);
      });
      res.on("end", finish);
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(payload);
  });
}

/** A JSON request with fetch; throws unless 2xx. */
export async function requestJson<T>(url: string, init: { method?: string; key?: string; body?: unknown } = {}): Promise<T> {
  const res = await fetch(url, {
    method: init.method ?? (init.body === undefined ? "GET" : "POST"),
    headers: { ...(init.key ? { authorization: `Bearer ${init.key}` } : {}), ...(init.body === undefined ? {} : { "content-type": "application/json" }) },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${init.method ?? "GET"} ${url} answered ${res.status}: ${text.slice(0, 500)}`);
  return JSON.parse(text) as T;
}
