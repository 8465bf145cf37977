import { networkErrorToProviderError } from "../src/network-errors";
import { httpErrorToProviderError, retryAfterMs, withoutAddresses } from "../src/openai-errors";

const context = { provider: "test", apiKey: "sk-secret", baseUrl: "http://vllm:8000/v1" };
const now = Date.parse("2025-01-01T00:00:00Z");

describe("retryAfterMs", () => {
  it("reads seconds, HTTP dates and retry-after-ms", () => {
    expect(retryAfterMs({ "retry-after": "3" }, now)).toBe(3000);
    expect(retryAfterMs({ "retry-after": "0.5" }, now)).toBe(500);
    expect(retryAfterMs({ "retry-after": "Wed, 01 Jan 2025 00:00:10 GMT" }, now)).toBe(10_000);
    expect(retryAfterMs({ "retry-after": "Tue, 31 Dec 2024 00:00:00 GMT" }, now)).toBe(0);
    expect(retryAfterMs({ "retry-after": "3", "retry-after-ms": "250" }, now)).toBe(250);
    expect(retryAfterMs({ "retry-after": "soon" }, now)).toBeNull();
    expect(retryAfterMs({}, now)).toBeNull();
  });
});

describe("httpErrorToProviderError", () => {
  it("understands vLLM's flat error body and Ollama's string error", () => {
    const vllm = JSON.stringify({ object: "error", message: "max_tokens is too large", type: "BadRequestError", code: 400 });
    expect(httpErrorToProviderError(context, 400, {}, vllm).message).toContain("max_tokens is too large");
    const ollama = JSON.stringify({ error: "model 'x' not found" });
    expect(httpErrorToProviderError(context, 404, {}, ollama)).toMatchObject({ code: "upstream_bad_request", retryable: false });
  });

  it("spots insufficient_quota by type as well as code", () => {
    const body = JSON.stringify({ error: { message: "quota", type: "insufficient_quota", code: null } });
    expect(httpErrorToProviderError(context, 429, {}, body)).toMatchObject({ code: "quota_exceeded", retryable: false });
  });

  it("keeps non-JSON bodies short and free of the API key", () => {
    const html = `<html>${"x".repeat(5000)} sk-secret</html>`;
    const error = httpErrorToProviderError(context, 502, { "retry-after": "1" }, `sk-secret ${html}`);
    expect(error).toMatchObject({ code: "upstream_server_error", retryable: true, retryAfterMs: 1000 });
    expect(error.message).not.toContain("sk-secret");
    expect(error.message.length).toBeLessThan(700);
  });
});

describe("what tenants read of an upstream failure", () => {
  it.each([
    ["a URL", "cannot reach http://10.1.2.3:8000/v1/chat/completions now"],
    ["an IPv4 address and port", "connect ECONNREFUSED 10.1.2.3:8000"],
    ["a bracketed IPv6 address and port", "upstream [fd00::5]:8000 is down"],
    ["a bare IPv6 address", "no route to fd00::5 or 2001:db8:0:0:1:0:0:1"],
    ["a host and port", "proxy vllm.internal:8000 refused; localhost:11434 too"],
    ["the provider's own one-label host", "vllm is overloaded"],
  ])("takes out %s", (_what, text) => {
    const cleaned = withoutAddresses(text, context);
    expect(cleaned).toContain("[address]");
    expect(cleaned).not.toMatch(/10\.1\.2\.3|fd00|2001:db8|vllm|localhost|8000|11434/);
  });

  it("keeps what is not an address", () => {
    const text = "This model's maximum context length is 4096 tokens; you asked for 5000 at 12:30:45 (v1.2)";
    expect(withoutAddresses(text, context)).toBe(text);
  });

  it("an HTTP error says the status and the upstream's message without its addresses; the log detail keeps them", () => {
    const error = httpErrorToProviderError(context, 502, {}, "Bad gateway: upstream http://10.9.8.7:9000 connection refused");
    expect(error.message).toBe("the upstream answered 502: Bad gateway: upstream [address] connection refused");
    expect(error.detail).toContain("upstream test (http://vllm:8000/v1) answered 502");
    expect(error.detail).toContain("10.9.8.7:9000");
  });

  it("a network error names the kind of failure only", () => {
    const failure = Object.assign(new TypeError("fetch failed"), { cause: Object.assign(new Error("connect ETIMEDOUT 10.0.0.9:8000"), { code: "ETIMEDOUT" }) });
    const error = networkErrorToProviderError(context, failure);
    expect(error.message).toBe("the upstream could not be reached: timed out");
    expect(error.detail).toContain("ETIMEDOUT 10.0.0.9:8000");
  });
});
