import { ProviderError, type ProviderErrorKind } from "@llmq/core";
import { upstreamFailureOf } from "../src";

const error = (kind: ProviderErrorKind, retryAfterMs: number | null = null) => new ProviderError(kind, "the upstream failed", { retryable: true, retryAfterMs });

describe("upstreamFailureOf: what a provider failure tells the run queue about the upstream", () => {
  it.each([
    ["upstream_unreachable", { kind: "fail", error: "connection" }],
    ["upstream_timeout", { kind: "fail", error: "timeout" }],
    ["upstream_server_error", { kind: "fail", error: "server" }],
    ["quota_exceeded", { kind: "quota" }],
    // The request's own faults say nothing about the upstream's health: no report, no failover.
    ["upstream_bad_request", null],
    ["upstream_auth", null],
    ["upstream_protocol", null],
  ] as const)("%s -> %j", (kind, expected) => {
    expect(upstreamFailureOf(error(kind))).toEqual(expected);
  });

  it("a 429 carries its Retry-After (null without one)", () => {
    expect(upstreamFailureOf(error("rate_limited", 2_000))).toEqual({ kind: "rate_limited", retryAfterMs: 2_000 });
    expect(upstreamFailureOf(error("rate_limited"))).toEqual({ kind: "rate_limited", retryAfterMs: null });
  });

  it("anything that is not a ProviderError (an abort, a bug) is no upstream failure", () => {
    expect(upstreamFailureOf(new Error("aborted"))).toBeNull();
    expect(upstreamFailureOf("boom")).toBeNull();
  });
});
