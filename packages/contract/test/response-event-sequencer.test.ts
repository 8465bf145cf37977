// The Responses event sequencer, pure: the same output gives the same events and sequence numbers, fed
// live (a delta at a time) or replayed from the finished output's recorded pieces.
import type { StreamPiece } from "@llmq/core";
import { type ResponseEnd, ResponseEventSequencer, type ResponseObject, type ResponseSequencerOptions, type ResponseStatus, responseStreamEventSchema } from "../src";

const TASK = "0123456789abcdef0123456789abcdef";

function response(status: ResponseStatus, output: ResponseObject["output"] = []): ResponseObject {
  return {
    id: `resp_${TASK}`,
    object: "response",
    created_at: 1_700_000_000,
    status,
    background: true,
    error: status === "failed" ? { code: "upstream_error", message: "it failed" } : null,
    incomplete_details: status === "incomplete" ? { reason: "max_output_tokens" } : null,
    instructions: null,
    max_output_tokens: null,
    metadata: {},
    model: "m",
    output,
    parallel_tool_calls: true,
    previous_response_id: null,
    service_tier: "default",
    store: true,
    temperature: null,
    text: { format: { type: "text" }, verbosity: "medium" },
    max_tool_calls: null,
    prompt_cache_key: null,
    safety_identifier: null,
    top_logprobs: 0,
    tool_choice: "auto",
    tools: [],
    top_p: null,
    truncation: "disabled",
    usage: null,
    user: null,
    reasoning: { effort: null, summary: null },
    task_id: TASK,
  };
}

const options = (extra: Partial<ResponseSequencerOptions> = {}): ResponseSequencerOptions => ({
  background: true,
  messageItemId: `msg_${TASK}`,
  functionCallItemId: (index) => `fc_${TASK}_${index}`,
  snapshot: (status) => response(status),
  ...extra,
});

const CALL = { id: "call_1", function: { name: "get_weather", arguments: '{"city":"Paris"}' } };

/** A finished response: text "Hello world" streamed as "Hel" "" "lo" " world", a tool call between. */
function ended(status: ResponseStatus = "completed", pieces: StreamPiece[] | undefined = [3, 0, [0, 0], 2, [0, 8], 6, [0, 8]]): ResponseEnd {
  const itemStatus = status === "completed" ? "completed" : "incomplete";
  return {
    response: response(status, [
      { id: `msg_${TASK}`, type: "message", status: itemStatus, role: "assistant", content: [{ type: "output_text", text: "Hello world", annotations: [], logprobs: [] }] },
      { id: `fc_${TASK}_0`, type: "function_call", status: itemStatus, call_id: CALL.id, name: CALL.function.name, arguments: CALL.function.arguments },
    ]),
    ran: true,
    text: "Hello world",
    toolCalls: [CALL],
    pieces,
  };
}

/** The same output fed live, a delta at a time (the first `upTo` pieces), then ended. */
function live(upTo: number, end = ended(), extra: Partial<ResponseSequencerOptions> = {}) {
  const sequencer = new ResponseEventSequencer(options(extra));
  const events = [...sequencer.begin(), ...sequencer.inProgress()];
  const feed: (() => ReturnType<typeof sequencer.text>)[] = [
    () => sequencer.text("Hel"),
    () => sequencer.text(""),
    () => sequencer.toolCall(0, "call_1", "get_weather", ""),
    () => sequencer.text("lo"),
    () => sequencer.toolCall(0, undefined, undefined, '{"city":'),
    () => sequencer.text(" world"),
    () => sequencer.toolCall(0, undefined, undefined, '"Paris"}'),
  ];
  for (const step of feed.slice(0, upTo)) events.push(...step());
  events.push(...sequencer.end(end));
  return events;
}

describe("ResponseEventSequencer", () => {
  it("numbers a replay 0, 1, 2, ... in OpenAI's order, every event valid against its schema", () => {
    const events = ResponseEventSequencer.replay(options(), ended());
    expect(events.map((event) => event.sequence_number)).toEqual(events.map((_, index) => index));
    for (const event of events) expect(responseStreamEventSchema.safeParse(event).success).toBe(true);
    expect(events.map((event) => event.type)).toEqual([
      "response.created",
      "response.queued",
      "response.in_progress",
      "response.output_item.added",
      "response.content_part.added",
      "response.output_text.delta",
      "response.output_item.added",
      "response.output_text.delta",
      "response.function_call_arguments.delta",
      "response.output_text.delta",
      "response.function_call_arguments.delta",
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.function_call_arguments.done",
      "response.output_item.done",
      "response.completed",
    ]);
    const deltas = events.filter((event) => event.type === "response.output_text.delta").map((event) => (event as { delta: string }).delta);
    expect(deltas).toEqual(["Hel", "lo", " world"]);
    expect(events.filter((event) => event.type === "response.function_call_arguments.delta").map((event) => (event as { delta: string }).delta)).toEqual(['{"city":', '"Paris"}']);
  });

  it("gives the same events fed live as replayed, however much of it was seen live (the rest filled in at the end)", () => {
    const replayed = ResponseEventSequencer.replay(options(), ended());
    for (let upTo = 0; upTo <= 7; upTo++) expect(live(upTo)).toEqual(replayed);
  });

  it("starts a non-background response without response.queued; created shows it queued, in_progress with no output", () => {
    const events = ResponseEventSequencer.replay(options({ background: false }), ended());
    expect(events.slice(0, 2).map((event) => [event.type, (event as { response: ResponseObject }).response.status])).toEqual([
      ["response.created", "queued"],
      ["response.in_progress", "in_progress"],
    ]);
  });

  it("replays output whose pieces were not recorded as the text, then each call, whole", () => {
    const events = ResponseEventSequencer.replay(options(), { ...ended(), pieces: undefined });
    expect(events.filter((event) => event.type.endsWith(".delta")).map((event) => (event as { delta: string }).delta)).toEqual(["Hello world", '{"city":"Paris"}']);
  });

  it("ends a cancelled response with response.incomplete (status cancelled), a failed one with response.failed; one never started has no in_progress", () => {
    const cancelled = ResponseEventSequencer.replay(options(), ended("cancelled"));
    expect(cancelled.at(-1)).toMatchObject({ type: "response.incomplete", response: { status: "cancelled" } });
    const failed = ResponseEventSequencer.replay(options(), ended("failed"));
    expect(failed.at(-1)).toMatchObject({ type: "response.failed", response: { status: "failed", error: { code: "upstream_error" } } });
    const queuedOnly = ResponseEventSequencer.replay(options(), { response: response("cancelled"), ran: false, text: "", toolCalls: [], pieces: [] });
    expect(queuedOnly.map((event) => event.type)).toEqual(["response.created", "response.queued", "response.incomplete"]);
  });

  it("interrupts a live stream with one error event numbered next, after which it sends nothing", () => {
    const sequencer = new ResponseEventSequencer(options());
    const first = [...sequencer.begin(), ...sequencer.inProgress(), ...sequencer.text("Hel")];
    const [error, ...rest] = sequencer.interrupted("stream_interrupted", "read it again from 0");
    expect(rest).toEqual([]);
    expect(error).toEqual({ type: "error", code: "stream_interrupted", message: "read it again from 0", param: null, sequence_number: first.length });
    expect([...sequencer.text("lo"), ...sequencer.end(ended())]).toEqual([]);
  });

  it("pads deltas with obfuscation only when asked, the same on every replay", () => {
    expect(ResponseEventSequencer.replay(options(), ended()).some((event) => "obfuscation" in event)).toBe(false);
    const padded = ResponseEventSequencer.replay(options({ obfuscate: true }), ended());
    const deltas = padded.filter((event) => event.type.endsWith(".delta"));
    expect(deltas.every((event) => typeof (event as { obfuscation?: string }).obfuscation === "string")).toBe(true);
    expect(live(4, ended(), { obfuscate: true })).toEqual(padded);
  });
});
