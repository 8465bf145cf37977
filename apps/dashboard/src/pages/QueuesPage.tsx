import { useCallback, useEffect, useState } from "react";
import type { ModelInfo, QueueStats } from "@llmq/contract";
import { useAuth } from "../auth/AuthContext";
import { LineChart } from "../components/LineChart";
import { TenantWaiting } from "../components/TenantWaiting";
import { UpstreamsTable } from "../components/UpstreamsTable";
import { useNow } from "../hooks/useNow";
import { formatCount, formatMs } from "../lib/format";

/** Queue counts refresh at this pace while the page is open: one request for all models, not one per row. */
const REFRESH_MS = 5_000;

/** Per model: waiting, active, completed, failed; the admin also gets who waits (per tenant and tier), last-hour charts, pause/resume, and the upstreams. */
export function QueuesPage() {
  const { user } = useAuth();
  return (
    <section aria-labelledby="queues-title">
      <h1 id="queues-title">Queues</h1>
      {user?.is_admin ? (
        <>
          <AdminQueues />
          <Upstreams />
        </>
      ) : (
        <ModelQueues />
      )}
    </section>
  );
}

function usePeriodic<T>(load: () => Promise<T>): { data: T | null; error: string | null; reload: () => void } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const reload = useCallback(() => {
    load().then(
      (value) => {
        setData(value);
        setError(null);
      },
      (caught: unknown) => setError(caught instanceof Error ? caught.message : String(caught)),
    );
  }, [load]);
  useEffect(() => {
    reload();
    const timer = setInterval(reload, REFRESH_MS);
    return () => clearInterval(timer);
  }, [reload]);
  return { data, error, reload };
}

function AdminQueues() {
  const { client } = useAuth();
  const load = useCallback(() => client.queues(), [client]);
  const { data, error, reload } = usePeriodic(load);
  const [busy, setBusy] = useState<string | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);

  const toggle = async (queue: QueueStats) => {
    setBusy(queue.model);
    setActionError(null);
    try {
      await client.setPaused(queue.model, !queue.paused);
      reload();
    } catch (caught) {
      setActionError(caught instanceof Error ? caught.message : String(caught));
    } finally {
      setBusy(null);
    }
  };

  return (
    <>
      {(error ?? actionError) && (
        <p className="error" role="alert">
          {error ?? actionError}
        </p>
      )}
      {!data && !error && <p className="muted">Loading…</p>}
      <div className="cards">
        {data?.queues.map((queue) => (
          <article className="card" key={queue.model} aria-labelledby={`queue-${queue.model}`} data-model={queue.model}>
            <header className="card-head">
              <h2 id={`queue-${queue.model}`}>{queue.model}</h2>
              {queue.paused && <span className="badge badge-paused">PAUSED</span>}
              <button type="button" disabled={busy === queue.model} onClick={() => void toggle(queue)}>
                {queue.paused ? "Resume" : "Pause"}
              </button>
            </header>
            <p className="muted mono">{queue.queue_name}</p>
            <Counts counts={queue.counts} />
            <TenantWaiting queue={queue} />
            <p className="muted">
              Last hour: {formatCount(queue.last_hour.completed)} completed, {formatCount(queue.last_hour.failed)} failed · p50 {formatMs(queue.last_hour.p50_ms)} · p95{" "}
              {formatMs(queue.last_hour.p95_ms)}
            </p>
            <div className="charts">
              <LineChart
                title="Throughput per minute"
                format={(v) => `${formatCount(v)}/min`}
                series={[
                  { name: "completed", className: "series-ok", values: queue.last_hour.per_minute.map((m) => m.completed) },
                  { name: "failed", className: "series-bad", values: queue.last_hour.per_minute.map((m) => m.failed) },
                ]}
              />
              <LineChart
                title="Latency (created → completed)"
                format={formatMs}
                series={[
                  { name: "p50", className: "series-ok", values: queue.last_hour.per_minute.map((m) => m.p50_ms) },
                  { name: "p95", className: "series-warn", values: queue.last_hour.per_minute.map((m) => m.p95_ms) },
                ]}
              />
            </div>
          </article>
        ))}
      </div>
    </>
  );
}

/** Each model's upstreams as the run queue sees them (GET /v1/admin/upstreams), refreshed with the queues. */
function Upstreams() {
  const { client } = useAuth();
  const load = useCallback(() => client.upstreams(), [client]);
  const { data, error } = usePeriodic(load);
  const now = useNow(data !== null);
  return (
    <section aria-labelledby="upstreams-title" data-testid="upstreams">
      <h2 id="upstreams-title">Upstreams</h2>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {!data && !error && <p className="muted">Loading…</p>}
      {data && <UpstreamsTable models={data.models} now={now} />}
    </section>
  );
}

function ModelQueues() {
  const { client } = useAuth();
  const load = useCallback(() => client.models(), [client]);
  const { data, error } = usePeriodic<ModelInfo[]>(load);
  return (
    <>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <div className="cards">
        {data?.map((model) => (
          <article className="card" key={model.model} aria-labelledby={`queue-${model.model}`} data-model={model.model}>
            <header className="card-head">
              <h2 id={`queue-${model.model}`}>{model.model}</h2>
            </header>
            <p className="muted mono">{model.queue_name}</p>
            <Counts counts={model.queue} />
          </article>
        ))}
      </div>
    </>
  );
}

function Counts({ counts }: { counts: { waiting: number; active: number; completed: number; failed: number; delayed?: number } }) {
  const items: [string, number][] = [
    ["waiting", counts.waiting],
    ["active", counts.active],
    ["completed", counts.completed],
    ["failed", counts.failed],
  ];
  return (
    <dl className="counts">
      {items.map(([name, value]) => (
        <div key={name} data-count={name}>
          <dt>{name}</dt>
          <dd>{formatCount(value)}</dd>
        </div>
      ))}
    </dl>
  );
}
