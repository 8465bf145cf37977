import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { type OpenAIProviderConfig, ProviderError } from "@llmq/core";
import { type OpenAIFixture, eventually, startOpenAIFixture } from "@llmq/testkit";
import { OpenAICompatibleProvider, type OpenAIProviderOptions } from "../src/openai-provider";
import { collect, failure, user } from "./helpers";

let fixture: OpenAIFixture;
const providers: OpenAICompatibleProvider[] = [];
const provider = (overrides: Partial<OpenAIProviderConfig> = {}, options: OpenAIProviderOptions = {}) => {
  const created = new OpenAICompatibleProvider({ type: "openai", name: "fixture", base_url: fixture.url, apiKey: "sk-http-secret", timeout_ms: 5000, headers: {}, ...overrides }, options);
  providers.push(created);
  return created;
};
const servers: Array<http.Server | net.Server> = [];

beforeAll(async () => {
  fixture = await startOpenAIFixture();
});
afterAll(async () => {
  await Promise.all(providers.map((each) => each.close()));
  for (const server of servers) server.close();
  await fixture.close();
});
beforeEach(() => fixture.setBehaviour({}));

describe("OpenAICompatibleProvider connections", () => {
  it("reuses keep-alive connections for streams that follow each other, rather than one per stream", async () => {
    const sequential = provider();
    const before = fixture.acceptedConnections();
    const words = ["one", "two", "three", "four", "five", "six", "seven", "eight"];
    for (const word of words) {
      await expect(collect(sequential, [user(word)])).resolves.toMatchObject({ text: `Echo: ${word}` });
    }
    // undici frees a socket a tick after its body ends, so a request sent at once may take a second one;
    // from then on the two take turns. A client without keep-alive would have opened eight.
    expect(fixture.acceptedConnections() - before).toBeLessThanOrEqual(2);
  });

  it("opens at most `connections` sockets, and the streams beyond wait for one", async () => {
    const capped = provider({}, { connections: 2 });
    const before = fixture.acceptedConnections();
    fixture.resetMaxInFlight();
    const results = await Promise.all(["a", "b", "c", "d", "e"].map((word) => collect(capped, [user(`[[fixture:tokenDelayMs=20]] ${word} x`)])));
    expect(results.map((result) => result.text)).toEqual(["a", "b", "c", "d", "e"].map((word) => `Echo: ${word} x`));
    expect(fixture.maxInFlight()).toBe(2);
    expect(fixture.acceptedConnections() - before).toBe(2);
  });

  it("close() closes its idle connections", async () => {
    const closing = provider();
    const openBefore = fixture.activeConnections();
    await collect(closing, [user("then close")]);
    expect(fixture.activeConnections()).toBe(openBefore + 1);
    await closing.close();
    await eventually(async () => fixture.activeConnections() === openBefore || undefined, { timeoutMs: 1000 });
  });

  it("follows a 307 redirect with the same POST and body, as fetch did", async () => {
    const redirector = await listen(
      http.createServer((req, res) => {
        req.resume();
        res.writeHead(307, { location: `${fixture.url}${req.url?.replace(/^\/v1/, "")}` });
        res.end();
      }),
    );
    const result = await collect(provider({ base_url: `http://127.0.0.1:${redirector}/v1` }), [user("moved")]);
    expect(result.text).toBe("Echo: moved");
    expect(fixture.requests.at(-1)).toMatchObject({ method: "POST", path: "/v1/chat/completions" });
  });
});

describe("OpenAICompatibleProvider on a broken upstream", () => {
  it("reads at most 64 KiB of an error answer: an endless 502 body is told by its status, not waited out", async () => {
    let closed = false;
    const endless = await listen(
      http.createServer((req, res) => {
        req.resume();
        res.writeHead(502, { "content-type": "text/html", "retry-after": "3" });
        const chunk = `<html>bad gateway ${"x".repeat(16 * 1024)}`;
        const pump = (): void => {
          while (!res.destroyed && res.write(chunk));
          if (!res.destroyed) res.once("drain", pump);
        };
        res.on("close", () => (closed = true));
        pump();
      }),
    );
    const error = (await failure(collect(provider({ base_url: `http://127.0.0.1:${endless}/v1` }), [user("hi")]))) as unknown as ProviderError;
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ code: "upstream_server_error", retryable: true, upstreamStatus: 502, retryAfterMs: 3000 });
    expect(error.message).toMatch(/^the upstream answered 502: <html>bad gateway x+\.\.\.$/);
    // What was not read is not left hanging: the socket is closed.
    await eventually(async () => closed || undefined, { timeoutMs: 3000 });
  });

  it("maps an answer that is not HTTP to upstream_unreachable, retryable", async () => {
    const garbage = await listen(net.createServer((socket) => socket.once("data", () => socket.end("garbage\r\n\r\n"))));
    const error = await failure(collect(provider({ base_url: `http://127.0.0.1:${garbage}/v1` }), [user("hi")]));
    expect(error).toMatchObject({ code: "upstream_unreachable", retryable: true, message: "the upstream could not be reached: connection failed" });
  });

  it("maps a connection closed mid-stream (FIN, no reset) to upstream_unreachable 'connection reset', naming no address", async () => {
    const closer = await listen(
      http.createServer((req, res) => {
        req.resume();
        res.writeHead(200, { "content-type": "text/event-stream" });
        res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: "partial" }, finish_reason: null }] })}\n\n`);
        setTimeout(() => req.socket.destroy(), 20);
      }),
    );
    const error = await failure(collect(provider({ base_url: `http://127.0.0.1:${closer}/v1` }), [user("hi")]));
    expect(error).toMatchObject({ code: "upstream_unreachable", retryable: true, message: "the upstream could not be reached: connection reset" });
    expect(error.detail).toContain("UND_ERR_SOCKET");
    expect(error.detail).toContain(`127.0.0.1:${closer}`);
  });
});

// Starts `server` on a free port of 127.0.0.1 and returns the port; closed after the suite.
async function listen(server: http.Server | net.Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  if (server instanceof http.Server) server.keepAliveTimeout = 100;
  return (server.address() as AddressInfo).port;
}
