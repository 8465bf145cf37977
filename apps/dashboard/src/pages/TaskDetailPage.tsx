import { useEffect, useState } from "react";
import { isFinal } from "@llmq/core";
import { ApiError } from "../api/client";
import { useAuth } from "../auth/AuthContext";
import { PercentBar } from "../components/PercentBar";
import { StatusBadge } from "../components/StatusBadge";
import { Waterfall } from "../components/Waterfall";
import { useNow } from "../hooks/useNow";
import { NONE, formatCount, formatDuration, formatEndpoint, formatQueuePlace, formatRate, formatTimestamp, tokensPerSecond } from "../lib/format";
import { BASE, Link, navigate } from "../lib/router";
import { pathOf } from "../lib/routes";
import { type LiveTask, applyTaskEvent } from "../lib/task-stream";

/** One task: messages, the response as it streams, configs, timings, attempts (and, for the admin, what served it); cancel and retry. */
export function TaskDetailPage({ taskId }: { taskId: string }) {
  const { client } = useAuth();
  const [live, setLive] = useState<LiveTask | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    const controller = new AbortController();
    setLive(null);
    setError(null);
    void (async () => {
      let envelope;
      try {
        envelope = await client.task(taskId);
      } catch (caught) {
        if (!controller.signal.aborted) setError(caught instanceof ApiError && caught.status === 404 ? `No task ${taskId} is visible to you.` : String(caught));
        return;
      }
      if (controller.signal.aborted) return;
      const final = isFinal(envelope.data.status);
      // A live task's stream is replayed from its start, so its text is rebuilt from the first token.
      setLive({ envelope, text: final ? (envelope.data.response ?? "") : "", attempt: 0, done: final });
      if (final) return;
      // The client resumes a dropped stream after its last event, and ends after the result.
      try {
        for await (const event of client.tasks.events(taskId, { signal: controller.signal })) setLive((current) => (current ? applyTaskEvent(current, event) : current));
      } catch (caught) {
        // A refused stream (a 401 also ends the session), one the server ended, or a lasting network failure.
        if (!controller.signal.aborted) setError(caught instanceof Error ? caught.message : String(caught));
      }
    })();
    return () => controller.abort();
  }, [client, taskId]);

  const task = live?.envelope.data;
  const final = task ? isFinal(task.status) : true;
  const now = useNow(!final);
  const waiting = task?.status === "PENDING";

  // While the task waits, its place in line moves: the task API estimates it on each read, every 2 s here.
  useEffect(() => {
    if (!waiting) return;
    const timer = setInterval(() => {
      void client
        .task(taskId)
        .then((envelope) => {
          const { queue_position, eta_seconds } = envelope.data;
          setLive((current) =>
            current && current.envelope.data.status === "PENDING"
              ? { ...current, envelope: { ...current.envelope, data: { ...current.envelope.data, queue_position, eta_seconds } } }
              : current,
          );
        })
        .catch(() => undefined);
    }, 2_000);
    return () => clearInterval(timer);
  }, [client, taskId, waiting]);

  const act = async (action: "cancel" | "retry") => {
    setBusy(true);
    setError(null);
    try {
      if (action === "cancel") {
        const envelope = await client.cancel(taskId);
        setLive((current) => (current ? { ...current, envelope, text: envelope.data.response ?? current.text } : current));
      } else {
        const envelope = await client.retry(taskId);
        navigate(pathOf({ page: "task", taskId: envelope.data.task_id }, BASE));
      }
    } catch (caught) {
      setError(caught instanceof Error ? caught.message : String(caught));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="task-title" className="task-detail">
      <p>
        <Link href={pathOf({ page: "tasks" }, BASE)}>← All tasks</Link>
      </p>
      <div className="page-head">
        <h1 id="task-title">
          Task <span className="mono">{taskId}</span>
        </h1>
        {task && (
          <div className="actions">
            {!final && (
              <button type="button" className="danger" disabled={busy} onClick={() => void act("cancel")}>
                Cancel
              </button>
            )}
            {final && (
              <button type="button" disabled={busy} onClick={() => void act("retry")}>
                Retry
              </button>
            )}
          </div>
        )}
      </div>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {!task && !error && <p className="muted">Loading…</p>}
      {task && live && (
        <>
          <dl className="facts">
            <div>
              <dt>Status</dt>
              <dd>
                <StatusBadge status={task.status} />
              </dd>
            </div>
            <div>
              <dt>Progress</dt>
              <dd>
                <PercentBar percent={task.percent} />
              </dd>
            </div>
            <div>
              <dt>Model</dt>
              <dd>{task.model}</dd>
            </div>
            {task.upstream && (
              <div>
                <dt>Served by</dt>
                <dd data-served-by>
                  {task.served_model ?? task.model} via <span className="mono">{task.upstream}</span>
                </dd>
              </div>
            )}
            <div>
              <dt>API</dt>
              <dd data-endpoint={task.endpoint}>{formatEndpoint(task, { withId: true })}</dd>
            </div>
            <div>
              <dt>Created</dt>
              <dd>{formatTimestamp(task.created_at)}</dd>
            </div>
            <div>
              <dt>Tokens</dt>
              <dd>
                {formatCount(task.usage.prompt_tokens)} in · {formatCount(task.usage.completion_tokens)} out
              </dd>
            </div>
            <div>
              <dt>Tokens/s</dt>
              <dd>{formatRate(tokensPerSecond(task, now))}</dd>
            </div>
            {waiting && (
              <div>
                <dt>In queue</dt>
                <dd data-queue-place>{formatQueuePlace(task.queue_position, task.eta_seconds)}</dd>
              </div>
            )}
            {task.batch_id && (
              <div>
                <dt>Batch</dt>
                <dd>
                  <Link className="mono" href={`${pathOf({ page: "tasks" }, BASE)}?batch_id=${encodeURIComponent(task.batch_id)}`}>
                    {task.batch_id}
                  </Link>
                </dd>
              </div>
            )}
          </dl>

          <h2>Timing</h2>
          <Waterfall task={task} final={final} now={now} />
          <dl className="facts small">
            <div>
              <dt>Queue wait</dt>
              <dd data-timing="queue_wait">{formatDuration(task.timings.queue_wait_seconds)}</dd>
            </div>
            <div>
              <dt>Time to first token</dt>
              <dd data-timing="ttft">{formatDuration(task.timings.time_to_first_token_seconds)}</dd>
            </div>
            <div>
              <dt>Duration</dt>
              <dd data-timing="duration">{formatDuration(task.timings.duration_seconds)}</dd>
            </div>
          </dl>

          <h2>Response</h2>
          <pre className="response" aria-live="polite" aria-busy={!final} data-testid="response">
            {live.text || (final ? NONE : "waiting for the first token…")}
          </pre>
          {task.finish_reason && <p className="muted">finish reason: {task.finish_reason}</p>}

          <h2>Attempts and errors</h2>
          <p>
            {task.attempts} attempt{task.attempts === 1 ? "" : "s"}
          </p>
          {task.error ? (
            <p className="error">
              <strong>{task.error.code}</strong>: {task.error.message}
            </p>
          ) : (
            <p className="muted">No error.</p>
          )}

          <h2>Messages</h2>
          <ol className="messages">
            {live.envelope.configs.messages.map((message, i) => (
              <li key={i} className={`message message-${message.role}`}>
                <span className="role">{message.role}</span>
                <pre>{message.content}</pre>
              </li>
            ))}
          </ol>

          <h2>Configs</h2>
          <dl className="facts small configs">
            {Object.entries(live.envelope.configs)
              .filter(([key]) => key !== "messages")
              .map(([key, value]) => (
                <div key={key}>
                  <dt>{key}</dt>
                  <dd className="mono">{typeof value === "string" ? value : JSON.stringify(value)}</dd>
                </div>
              ))}
          </dl>
        </>
      )}
    </section>
  );
}
