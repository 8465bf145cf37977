import type { TaskRow } from "@llmq/contract";
import { formatDuration } from "../lib/format";
import { waterfall } from "../lib/waterfall";

/** The task's timing as a waterfall: queued -> started -> first token -> completed. */
export function Waterfall({ task, final, now }: { task: TaskRow; final: boolean; now: number }) {
  const { segments, totalSeconds } = waterfall(task, final, now);
  if (segments.length === 0) return <p className="muted">Never started.</p>;
  return (
    <div className="waterfall" aria-label="Timing waterfall">
      {segments.map((segment) => (
        <div className="waterfall-row" key={segment.label} data-segment={segment.label}>
          <span className="waterfall-label">{segment.label}</span>
          <div className="waterfall-track">
            <div className={`waterfall-bar waterfall-${segment.label}${segment.open ? " open" : ""}`} style={{ marginLeft: `${segment.offset}%`, width: `${Math.max(segment.width, 0.5)}%` }} />
          </div>
          <span className="waterfall-value">{formatDuration(segment.seconds)}</span>
        </div>
      ))}
      <div className="waterfall-row total">
        <span className="waterfall-label">total</span>
        <div className="waterfall-track" />
        <span className="waterfall-value">{formatDuration(totalSeconds)}</span>
      </div>
    </div>
  );
}
