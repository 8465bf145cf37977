import http from "node:http";
import type { AddressInfo } from "node:net";
import { type OpenAIProviderConfig, ProviderError } from "@llmq/core";
import { type OpenAIFixture, eventually, startOpenAIFixture } from "@llmq/testkit";
import { OpenAICompatibleProvider } from "../src";
import { collect, failure, user } from "./helpers";

const API_KEY = "sk-test-very-secret";
let fixture: OpenAIFixture;
const provider = (overrides: Partial<OpenAIProviderConfig> = {}) =>
  new OpenAICompatibleProvider({ type: "openai", name: "fixture", base_url: fixture.url, apiKey: API_KEY, timeout_ms: 5000, headers: {}, ...overrides });
const fail = async (content: string, overrides: Partial<OpenAIProviderConfig> = {}, signal?: AbortSignal) =>
  (await failure(collect(provider(overrides), [user(content)], {}, signal))) as unknown as ProviderError;

beforeAll(async () => {
  fixture = await startOpenAIFixture();
});
afterAll(() => fixture.close());
beforeEach(() => fixture.setBehaviour({}));

describe("OpenAICompatibleProvider error classification", () => {
  it("maps 429 to rate_limited with Retry-After in seconds", async () => {
    const error = await fail("[[fixture:status=429,retryAfter=2]] hi");
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ code: "rate_limited", retryable: true, retryAfterMs: 2000, upstreamStatus: 429 });
  });

  it("prefers retry-after-ms when the upstream sends it", async () => {
    const error = await fail("[[fixture:status=429,retryAfter=2,retryAfterMs=1500]] hi");
    expect(error).toMatchObject({ code: "rate_limited", retryAfterMs: 1500 });
  });

  it("maps an insufficient_quota 429 to quota_exceeded, not retryable", async () => {
    const error = await fail("[[fixture:insufficientQuota]] hi");
    expect(error).toMatchObject({ code: "quota_exceeded", retryable: false });
  });

  it("maps 400 to upstream_bad_request with the upstream's message, not retryable", async () => {
    const error = await fail("[[fixture:status=400,errorMessage=context too long]] hi");
    expect(error).toMatchObject({ code: "upstream_bad_request", retryable: false, upstreamStatus: 400 });
    expect(error.message).toContain("context too long");
  });

  it.each([401, 403])("maps %i to upstream_auth, not retryable", async (status) => {
    const error = await fail(`[[fixture:status=${status}]] hi`);
    expect(error).toMatchObject({ code: "upstream_auth", retryable: false });
  });

  it("never puts the API key in an error message", async () => {
    const error = await fail(`[[fixture:status=401,errorMessage=Incorrect API key provided: ${API_KEY}]] hi`);
    expect(error.message).not.toContain(API_KEY);
    expect(error.message).toContain("[redacted]");
  });

  it.each([500, 503])("maps %i to upstream_server_error, retryable", async (status) => {
    const error = await fail(`[[fixture:status=${status}]] hi`);
    expect(error).toMatchObject({ code: "upstream_server_error", retryable: true, upstreamStatus: status });
  });

  it("maps an error frame mid-stream to upstream_server_error, retryable", async () => {
    const error = await fail("[[fixture:errorFrameAfterTokens=1]] a b c");
    expect(error).toMatchObject({ code: "upstream_server_error", retryable: true });
  });

  it("maps a refused connection to upstream_unreachable, retryable, naming the failure but not the upstream", async () => {
    const port = await unusedPort();
    const error = await fail("hi", { base_url: `http://127.0.0.1:${port}/v1` });
    expect(error).toMatchObject({ code: "upstream_unreachable", retryable: true, message: "the upstream could not be reached: connection refused" });
    // The logs keep where and how.
    expect(error.detail).toContain("ECONNREFUSED");
    expect(error.detail).toContain(`127.0.0.1:${port}`);
  });

  it("maps a connection reset mid-stream to upstream_unreachable, retryable", async () => {
    const error = await fail("[[fixture:resetAfterTokens=2]] a b c d");
    expect(error).toMatchObject({ code: "upstream_unreachable", retryable: true });
  });

  it("maps a stream that ends before finishing to upstream_protocol, retryable", async () => {
    const error = await fail("[[fixture:endAfterTokens=2]] a b c d");
    expect(error).toMatchObject({ code: "upstream_protocol", retryable: true });
  });

  it("maps a malformed JSON frame to upstream_protocol, retryable", async () => {
    const error = await fail("[[fixture:malformedAfterTokens=1]] a b c");
    expect(error).toMatchObject({ code: "upstream_protocol", retryable: true });
  });

  it("succeeds once the upstream stops failing (failFirst)", async () => {
    fixture.setBehaviour({ failFirst: 2 });
    await expect(fail("retry me")).resolves.toMatchObject({ code: "upstream_server_error" });
    await expect(fail("retry me")).resolves.toMatchObject({ code: "upstream_server_error" });
    await expect(collect(provider(), [user("retry me")])).resolves.toMatchObject({ text: "Echo: retry me" });
  });
});

describe("OpenAICompatibleProvider timeouts and aborts", () => {
  it("raises upstream_timeout when the stream stalls longer than idle_timeout_ms, and drops the request", async () => {
    const abortedBefore = fixture.abortedRequests();
    const startedAt = Date.now();
    const error = await fail("[[fixture:stallAfterTokens=2]] a b c", { timeout_ms: 5000, idle_timeout_ms: 200 });
    expect(error).toMatchObject({ code: "upstream_timeout", retryable: true });
    expect(Date.now() - startedAt).toBeLessThan(2000);
    await eventually(async () => (fixture.abortedRequests() === abortedBefore + 1) || undefined, { timeoutMs: 3000 });
  });

  it("raises upstream_timeout when the first byte takes longer than timeout_ms", async () => {
    const startedAt = Date.now();
    const error = await fail("[[fixture:firstTokenDelayMs=3000]] slow", { timeout_ms: 200 });
    expect(error).toMatchObject({ code: "upstream_timeout", retryable: true });
    expect(Date.now() - startedAt).toBeLessThan(2000);
  });

  it("stops with the caller's abort reason, not a ProviderError, and aborts the upstream request", async () => {
    const abortedBefore = fixture.abortedRequests();
    const controller = new AbortController();
    const slow = provider();
    const error = await failure(
      (async () => {
        const request = { model: "m", messages: [user("[[fixture:tokenDelayMs=200]] a b c d e f")], params: { maxTokens: 50 } };
        for await (const event of slow.stream(request, controller.signal)) {
          if (event.type === "delta") controller.abort();
        }
      })(),
    );
    expect(error).not.toBeInstanceOf(ProviderError);
    expect(error.name).toBe("AbortError");
    await eventually(async () => (fixture.abortedRequests() === abortedBefore + 1) || undefined, { timeoutMs: 3000 });
  });

  it("aborts the upstream request when the consumer stops reading", async () => {
    const abortedBefore = fixture.abortedRequests();
    const request = { model: "m", messages: [user("[[fixture:tokenDelayMs=200]] a b c d e f")], params: { maxTokens: 50 } };
    for await (const event of provider().stream(request, new AbortController().signal)) {
      if (event.type === "delta") break;
    }
    await eventually(async () => (fixture.abortedRequests() === abortedBefore + 1) || undefined, { timeoutMs: 3000 });
  });

  it("does not call the upstream when the signal is already aborted", async () => {
    const before = fixture.requests.length;
    const controller = new AbortController();
    controller.abort();
    const error = await failure(collect(provider(), [user("never sent")], {}, controller.signal));
    expect(error.name).toBe("AbortError");
    expect(fixture.requests.length).toBe(before);
  });
});

// A port that was just free: listen on port 0, note it, close.
async function unusedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
