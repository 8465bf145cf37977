import { httpErrorToProviderError, retryAfterMs } from "../src/openai-errors";

const context = { provider: "test", apiKey: "sk-secret" };
const now = Date.parse("2025-01-01T00:00:00Z");

describe("retryAfterMs", () => {
  it("reads seconds, HTTP dates and retry-after-ms", () => {
    expect(retryAfterMs(new Headers({ "retry-after": "3" }), now)).toBe(3000);
    expect(retryAfterMs(new Headers({ "retry-after": "0.5" }), now)).toBe(500);
    expect(retryAfterMs(new Headers({ "retry-after": "Wed, 01 Jan 2025 00:00:10 GMT" }), now)).toBe(10_000);
    expect(retryAfterMs(new Headers({ "retry-after": "Tue, 31 Dec 2024 00:00:00 GMT" }), now)).toBe(0);
    expect(retryAfterMs(new Headers({ "retry-after": "3", "retry-after-ms": "250" }), now)).toBe(250);
    expect(retryAfterMs(new Headers({ "retry-after": "soon" }), now)).toBeNull();
    expect(retryAfterMs(new Headers(), now)).toBeNull();
  });
});

describe("httpErrorToProviderError", () => {
  it("understands vLLM's flat error body and Ollama's string error", () => {
    const vllm = JSON.stringify({ object: "error", message: "max_tokens is too large", type: "BadRequestError", code: 400 });
    expect(httpErrorToProviderError(context, 400, new Headers(), vllm).message).toContain("max_tokens is too large");
    const ollama = JSON.stringify({ error: "model 'x' not found" });
    expect(httpErrorToProviderError(context, 404, new Headers(), ollama)).toMatchObject({ code: "upstream_bad_request", retryable: false });
  });

  it("spots insufficient_quota by type as well as code", () => {
    const body = JSON.stringify({ error: { message: "quota", type: "insufficient_quota", code: null } });
    expect(httpErrorToProviderError(context, 429, new Headers(), body)).toMatchObject({ code: "quota_exceeded", retryable: false });
  });

  it("keeps non-JSON bodies short and free of the API key", () => {
    const html = `<html>${"x".repeat(5000)} sk-secret</html>`;
    const error = httpErrorToProviderError(context, 502, new Headers({ "retry-after": "1" }), `sk-secret ${html}`);
    expect(error).toMatchObject({ code: "upstream_server_error", retryable: true, retryAfterMs: 1000 });
    expect(error.message).not.toContain("sk-secret");
    expect(error.message.length).toBeLessThan(700);
  });
});
