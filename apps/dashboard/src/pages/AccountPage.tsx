import { TASK_STATUSES } from "@llmq/core";
import { useEffect, useState } from "react";
import type { Profile } from "@llmq/contract";
import { useAuth } from "../auth/AuthContext";
import { NONE, formatCount, formatTimestamp } from "../lib/format";

/** The viewer's profile and usage: tasks and tokens, by status and by model (`GET /v1/users/me`). */
export function AccountPage() {
  const { client, session } = useAuth();
  const [profile, setProfile] = useState<Profile | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    client.me().then(setProfile, (caught: unknown) => setError(caught instanceof Error ? caught.message : String(caught)));
  }, [client]);

  return (
    <section aria-labelledby="account-title">
      <h1 id="account-title">Account</h1>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {!profile && !error && <p className="muted">Loading…</p>}
      {profile && (
        <>
          <dl className="facts">
            <div>
              <dt>Name</dt>
              <dd>{profile.name}</dd>
            </div>
            <div>
              <dt>Email</dt>
              <dd>{profile.email ?? NONE}</dd>
            </div>
            <div>
              <dt>Role</dt>
              <dd>{profile.is_admin ? "admin" : "user"}</dd>
            </div>
            <div>
              <dt>Signed in with</dt>
              <dd>{session?.kind === "password" ? "email and password" : "API key"}</dd>
            </div>
            <div>
              <dt>Member since</dt>
              <dd>{formatTimestamp(profile.created_at)}</dd>
            </div>
          </dl>

          <h2>Usage</h2>
          <dl className="counts" data-testid="usage">
            <div data-count="tasks">
              <dt>tasks</dt>
              <dd>{formatCount(profile.usage.tasks)}</dd>
            </div>
            <div data-count="prompt_tokens">
              <dt>prompt tokens</dt>
              <dd>{formatCount(profile.usage.prompt_tokens)}</dd>
            </div>
            <div data-count="completion_tokens">
              <dt>completion tokens</dt>
              <dd>{formatCount(profile.usage.completion_tokens)}</dd>
            </div>
            {TASK_STATUSES.map((status) => (
              <div key={status} data-count={status}>
                <dt>{status.toLowerCase()}</dt>
                <dd>{formatCount(profile.usage.by_status[status] ?? 0)}</dd>
              </div>
            ))}
          </dl>

          <h2>By model</h2>
          <div className="table-wrap">
            <table className="tasks">
              <thead>
                <tr>
                  <th scope="col">Model</th>
                  <th scope="col">Tasks</th>
                  <th scope="col">Prompt tokens</th>
                  <th scope="col">Completion tokens</th>
                  <th scope="col">Total tokens</th>
                </tr>
              </thead>
              <tbody>
                {profile.usage.by_model.map((row) => (
                  <tr key={row.model} data-model={row.model}>
                    <td data-label="Model">{row.model}</td>
                    <td data-label="Tasks">{formatCount(row.tasks)}</td>
                    <td data-label="Prompt tokens">{formatCount(row.prompt_tokens)}</td>
                    <td data-label="Completion tokens">{formatCount(row.completion_tokens)}</td>
                    <td data-label="Total tokens">{formatCount(row.total_tokens)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {profile.usage.by_model.length === 0 && <p className="muted empty">No tasks yet.</p>}
        </>
      )}
    </section>
  );
}
