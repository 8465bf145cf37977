import { TASK_STATUSES } from "@llmq/core";
import { useCallback, useEffect, useRef, useState } from "react";
import type { NativeBatch as Batch } from "@llmq/contract";
import { useAuth } from "../auth/AuthContext";
import { PercentBar } from "../components/PercentBar";
import { saveResponse } from "../lib/download";
import { formatCount, formatTimestamp } from "../lib/format";
import { BASE, Link } from "../lib/router";
import { pathOf } from "../lib/routes";

const PAGE_SIZE = 20;
const REFRESH_MS = 3_000;
const SETTLED = new Set(["completed", "failed", "expired", "cancelled"]);
/** Which API made a batch: both kinds are listed together. */
const DIALECT_NAMES: Record<Batch["dialect"], string> = { flexstack: "Task API", openai: "OpenAI Batch API" };
const DIALECT_ROUTES: Record<Batch["dialect"], string> = { flexstack: "POST /v1/ai/batches", openai: "POST /v1/batches (npx llmq batch submit)" };

/** Batches of both dialects (task API and OpenAI Batch API): progress, counts per task status, results download. */
export function BatchesPage() {
  const { client } = useAuth();
  const [batches, setBatches] = useState<Batch[]>([]);
  const [hasMore, setHasMore] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [loaded, setLoaded] = useState(false);
  const olderLoaded = useRef(false);

  // Refreshes the newest page in place; older pages the viewer loaded stay below it.
  const loadFirst = useCallback(async () => {
    try {
      const page = await client.batches(null, PAGE_SIZE);
      setBatches((current) => [...page.batches, ...current.filter((b) => !page.batches.some((p) => p.batch_id === b.batch_id))]);
      // Once older pages are loaded, the last of them decides whether there are more.
      if (!olderLoaded.current) setHasMore(page.has_more);
      setError(null);
    } catch (caught) {
      setError(caught instanceof Error ? caught.message : String(caught));
    } finally {
      setLoaded(true);
    }
  }, [client]);

  useEffect(() => {
    void loadFirst();
  }, [loadFirst]);

  const active = batches.some((b) => !SETTLED.has(b.status));
  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => void loadFirst(), REFRESH_MS);
    return () => clearInterval(timer);
  }, [active, loadFirst]);

  const showError = (caught: unknown) => setError(caught instanceof Error ? caught.message : String(caught));

  const loadOlder = async () => {
    try {
      const last = batches[batches.length - 1];
      const page = await client.batches(last?.batch_id ?? null, PAGE_SIZE);
      olderLoaded.current = true;
      setBatches((current) => [...current, ...page.batches.filter((b) => !current.some((c) => c.batch_id === b.batch_id))]);
      setHasMore(page.has_more);
    } catch (caught) {
      showError(caught);
    }
  };

  const download = async (batch: Batch) => {
    try {
      const response = await client.tasks.request(`/v1/ai/batches/${encodeURIComponent(batch.batch_id)}/results`);
      await saveResponse(response, `${batch.batch_id}-results.jsonl`);
    } catch (caught) {
      showError(caught);
    }
  };

  return (
    <section aria-labelledby="batches-title">
      <h1 id="batches-title">Batches</h1>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {loaded && batches.length === 0 && !error && <p className="muted empty">No batches yet. Submit one with POST /v1/ai/batches, or with the OpenAI Batch API (POST /v1/batches, npx llmq batch submit).</p>}
      <div className="cards">
        {batches.map((batch) => (
          <article className="card" key={batch.batch_id} data-batch-id={batch.batch_id} data-dialect={batch.dialect} aria-labelledby={`batch-${batch.batch_id}`}>
            <header className="card-head">
              <h2 id={`batch-${batch.batch_id}`} className="mono">
                {batch.batch_id}
              </h2>
              <span className="badge" title={DIALECT_ROUTES[batch.dialect]}>
                {DIALECT_NAMES[batch.dialect]}
              </span>
              <span className={`badge badge-batch-${batch.status}`}>{batch.status}</span>
            </header>
            <p className="muted">
              {formatTimestamp(batch.created_at)} · {formatCount(batch.total)} tasks · {batch.endpoint}
            </p>
            <PercentBar percent={batch.percent} label={`progress of batch ${batch.batch_id}`} />
            <dl className="counts">
              {TASK_STATUSES.map((status) => (
                <div key={status} data-count={status}>
                  <dt>{status.toLowerCase()}</dt>
                  <dd>{formatCount(batch.counts[status] ?? 0)}</dd>
                </div>
              ))}
            </dl>
            <div className="actions">
              <Link className="button" href={`${pathOf({ page: "tasks" }, BASE)}?batch_id=${encodeURIComponent(batch.batch_id)}`}>
                Tasks
              </Link>
              <button type="button" onClick={() => void download(batch)}>
                Download results
              </button>
            </div>
          </article>
        ))}
      </div>
      {hasMore && (
        <div className="pager">
          <button type="button" onClick={() => void loadOlder()}>
            Load older batches
          </button>
        </div>
      )}
    </section>
  );
}
