import { EventSourceParserStream } from "eventsource-parser/stream";

export interface SseEvent {
  id?: string;
  event?: string;
  data: string;
}

/** Reads a whole SSE response into events (the stream must end), parsing with eventsource-parser. */
export async function readSse(response: Response, options: { until?: (event: SseEvent) => boolean } = {}): Promise<SseEvent[]> {
  if (!response.body) throw new Error("response has no body");
  const events: SseEvent[] = [];
  const reader = response.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()).getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const event = { id: value.id, event: value.event, data: value.data };
    events.push(event);
    if (options.until?.(event)) {
      await reader.cancel();
      break;
    }
  }
  return events;
}
