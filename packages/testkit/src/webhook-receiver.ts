import http from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";

/** A request the receiver got: headers as Node gives them (lower-case), the body as sent. */
export interface ReceivedWebhook {
  path: string;
  headers: Record<string, string>;
  body: string;
  receivedAt: number;
}

/** How to answer a request: a status, and optionally headers and a body. */
export interface ReceiverAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

export interface WebhookReceiver {
  /** `http://127.0.0.1:<port>`; give each test its own path to tell its webhooks apart. */
  url: string;
  received: ReceivedWebhook[];
  /** What reached `path`, in order. */
  at(path: string): ReceivedWebhook[];
  /** Sets the answers for `path`: one per request in turn, the last one repeated (default 200). */
  answer(path: string, answers: ReceiverAnswer[]): void;
  close(): Promise<void>;
}

/** A real HTTP server on loopback that records webhook requests and answers as told. */
export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const received: ReceivedWebhook[] = [];
  const scripts = new Map<string, ReceiverAnswer[]>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const path = (req.url ?? "/").split("?")[0]!;
      const headers = Object.fromEntries(Object.entries(req.headers).map(([name, value]) => [name, Array.isArray(value) ? value.join(", ") : (value ?? "")]));
      received.push({ path, headers, body: Buffer.concat(chunks).toString("utf8"), receivedAt: Date.now() });
      const script = scripts.get(path) ?? [];
      const seen = received.filter((entry) => entry.path === path).length;
      const answer = script[Math.min(seen - 1, script.length - 1)] ?? { status: 200 };
      res.writeHead(answer.status, answer.headers).end(answer.body ?? "");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    at: (path) => received.filter((entry) => entry.path === path),
    answer: (path, answers) => scripts.set(path, answers),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Checks a received webhook as a receiver would, with the reference Standard Webhooks library
 * (signature over id, timestamp and body; timestamp within 5 minutes). Returns the parsed body; throws if it does not verify.
 */
export function verifyWebhook(secret: string, webhook: ReceivedWebhook): unknown {
  return new Webhook(secret).verify(webhook.body, webhook.headers);
}
