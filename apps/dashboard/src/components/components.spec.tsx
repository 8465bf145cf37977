import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { taskRow } from "../lib/testing";
import { LineChart } from "./LineChart";
import { PercentBar } from "./PercentBar";
import { StatusBadge } from "./StatusBadge";
import { Waterfall } from "./Waterfall";

describe("components", () => {
  it("PercentBar clamps and rounds, and tells screen readers the value", () => {
    const html = renderToStaticMarkup(<PercentBar percent={142.7} label="progress of t1" />);
    expect(html).toContain('aria-valuenow="100"');
    expect(html).toContain('aria-label="progress of t1"');
    expect(html).toContain("width:100%");
    expect(renderToStaticMarkup(<PercentBar percent={33.4} />)).toContain(">33%<");
  });

  it("StatusBadge keeps the status as text, colour only added", () => {
    expect(renderToStaticMarkup(<StatusBadge status="FAILED" />)).toBe('<span class="badge badge-failed">FAILED</span>');
  });

  it("Waterfall shows each reached step with its duration", () => {
    const html = renderToStaticMarkup(<Waterfall task={taskRow()} final now={0} />);
    expect(html.match(/data-segment="/g)).toHaveLength(3);
    expect(html).toContain("100 ms"); // queued: created -> started
    expect(html).toContain("1.2 s"); // total
    expect(renderToStaticMarkup(<Waterfall task={taskRow({ started_at: null, first_token_at: null, completed_at: null, status: "CANCELLED" })} final now={0} />)).toContain("Never started.");
  });

  it("LineChart scales to a round maximum and names its series", () => {
    const html = renderToStaticMarkup(<LineChart title="Throughput" format={String} series={[{ name: "completed", className: "series-ok", values: [1, 3, null, 7] }]} />);
    expect(html).toContain("axis up to 10");
    expect(html).toContain(">completed<");
    expect(html).toContain('d="M0,81L100,63M300,27L300,27"');
  });
});
