import { Writable } from "node:stream";
import pino from "pino";
import { prettyLogLine } from "../src";

describe("prettyLogLine (LOG_FORMAT=pretty, or auto on a terminal)", () => {
  it("turns an access line into one short readable line: time, level, name, message, the other fields as key=value", () => {
    const json = JSON.stringify({ level: 20, time: Date.UTC(2026, 0, 2, 21, 7, 13, 406), pid: 1, hostname: "h", name: "api", reqId: "r-1", method: "GET", url: "/v1/models", status: 200, ms: 1.2, route: "/v1/models", msg: "GET /v1/models 200 1.2 ms" });
    expect(prettyLogLine(json, false)).toBe('21:07:13.406 DEBUG api: GET /v1/models 200 1.2 ms reqId=r-1 method=GET url=/v1/models status=200 ms=1.2 route=/v1/models\n');
  });

  it("quotes values with spaces, cuts long ones, colours the level only when asked, passes non-JSON through", () => {
    const line = prettyLogLine(JSON.stringify({ level: 50, time: 0, name: "worker", msg: "upstream failed", detail: "connection refused", body: "x".repeat(1000) }), true);
    expect(line).toContain('\u001b[31mERROR\u001b[0m worker: upstream failed detail="connection refused" body=');
    expect(line.length).toBeLessThan(400);
    expect(line.split("\n")).toHaveLength(2);
    expect(prettyLogLine("not json", false)).toBe("not json\n");
  });

  it("keeps redaction: pino redacts before the line is formatted", () => {
    const out: string[] = [];
    const logger = pino({ redact: { paths: ["req.headers.authorization"], censor: "[redacted]" } }, {
      write: (line: string) => out.push(prettyLogLine(line, false)),
    } as unknown as Writable);
    logger.info({ req: { headers: { authorization: "Bearer secret-value" } } }, "hello");
    expect(out.join("")).not.toContain("secret-value");
    expect(out.join("")).toContain("[redacted]");
  });
});
