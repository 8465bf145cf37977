import { type AppError, AuthenticationError, type Logger, PermissionError } from "@llmq/core";
import type { CredentialRepository, CredentialStates } from "@llmq/db";
import type { CredentialChange, CredentialChanges } from "@llmq/queue";
import type { Principal } from "../http/principal";

/** Every open stream's credential is read again this often (one query per process), by default. */
const DEFAULT_CHECK_INTERVAL_MS = 30_000;
const DEFAULT_STALLED_READER_MS = 30_000;

/** One open stream: who opened it, whether what it shows needs the admin role, and how to end it. */
interface Watched {
  principal: Principal;
  needsAdmin: boolean;
  end(error: AppError): void;
  expiry: NodeJS.Timeout | null;
}

const keyRevoked = () => new AuthenticationError("The API key of this stream was revoked.", { code: "api_key_revoked" });
const accountDeleted = () => new AuthenticationError("The account of this stream was deleted.", { code: "account_deleted" });
const adminRoleRevoked = () =>
  new PermissionError("This stream showed what only the admin may see, and its account is no longer an admin.", { code: "admin_role_revoked" });
const tokenExpired = () =>
  new AuthenticationError("The access token has expired: refresh it with POST /v1/auth/refresh and reconnect (with Last-Event-ID to resume a task's events).", {
    code: "access_token_expired",
  });

/** Why a change ends this stream, or null. */
function endedBy(stream: Watched, change: CredentialChange): AppError | null {
  switch (change.type) {
    case "key_revoked":
      return stream.principal.keyId === change.keyId ? keyRevoked() : null;
    case "user_deleted":
      return stream.principal.userId === change.userId ? accountDeleted() : null;
    case "user_demoted":
      return stream.needsAdmin && stream.principal.userId === change.userId ? adminRoleRevoked() : null;
    case "key_changed":
    case "user_changed":
      return null;
  }
}

/** Why the stored credentials end this stream, or null. A deleted user's keys went with it: that is the reason given. */
function failsCheck(stream: Watched, states: CredentialStates): AppError | null {
  const user = states.users.get(stream.principal.userId);
  if (!user) return accountDeleted();
  if (stream.principal.keyId && !states.liveKeyIds.has(stream.principal.keyId)) return keyRevoked();
  if (stream.needsAdmin && !user.isAdmin) return adminRoleRevoked();
  return null;
}

/**
 * Ends open streams (SSE) whose credential no longer grants them, in every API process: a revoked
 * key, a deleted user, an admin demoted while watching other owners' tasks, an access token past its
 * expiry. Three ways, because each alone falls short: a change made by one process is announced on
 * Redis pub/sub and applied at once by all (`announce`, `apply`); pub/sub loses messages while a
 * subscriber reconnects, so every `checkIntervalMs` the credentials of all open streams are read again
 * in ONE query; and a timer ends a token's streams when it expires (the client refreshes and
 * reconnects with Last-Event-ID). `openSse` registers every stream here, so no SSE route can skip it.
 */
export class StreamGuard {
  private readonly streams = new Set<Watched>();
  private readonly timer: NodeJS.Timeout;
  private checking = false;

  constructor(
    private readonly deps: {
      credentials: CredentialRepository;
      changes: CredentialChanges;
      logger: Logger;
      checkIntervalMs?: number;
      /** How long a task's stream waits for its reader to take what it was sent before ending it (task-relay.ts); default 30 s. */
      stalledReaderMs?: number;
      /** Told of every change, this process's and announced ones, before streams are judged (the API key cache). */
      onChange?: (change: CredentialChange) => void;
    },
  ) {
    this.timer = setInterval(() => void this.recheck(), deps.checkIntervalMs ?? DEFAULT_CHECK_INTERVAL_MS);
    this.timer.unref();
  }

  /** How long a task's stream waits for a reader that has not taken what it was sent (task-relay.ts). */
  get stalledReaderMs(): number {
    return this.deps.stalledReaderMs ?? DEFAULT_STALLED_READER_MS;
  }

  /** Follows one open stream until the returned function is called; `end` is called at most once. */
  watch(principal: Principal, needsAdmin: boolean, end: (error: AppError) => void): () => void {
    const stream: Watched = { principal, needsAdmin, end, expiry: null };
    this.streams.add(stream);
    if (principal.accessTokenExpiresAt) {
      const ms = Math.max(0, principal.accessTokenExpiresAt.getTime() - Date.now());
      stream.expiry = setTimeout(() => this.end(stream, tokenExpired()), ms);
      stream.expiry.unref();
    }
    return () => this.forget(stream);
  }

  /** A change made by this process (already committed): ends its streams here now, and tells the other processes. */
  async announce(change: CredentialChange): Promise<void> {
    this.apply(change);
    await this.deps.changes.publish(change);
  }

  /** A change announced by any process (this one included: applying it twice does nothing more). */
  apply(change: CredentialChange): void {
    this.deps.onChange?.(change);
    for (const stream of [...this.streams]) {
      const error = endedBy(stream, change);
      if (error) this.end(stream, error);
    }
  }

  /** Reads every open stream's key and user in one query and ends those no longer granted. */
  async recheck(): Promise<void> {
    if (this.checking || this.streams.size === 0) return;
    this.checking = true;
    // Only streams open when the query starts are judged: a later one's user is not in its answer.
    const judged = [...this.streams];
    try {
      const keyIds = new Set(judged.flatMap((stream) => (stream.principal.keyId ? [stream.principal.keyId] : [])));
      const userIds = new Set(judged.map((stream) => stream.principal.userId));
      const states = await this.deps.credentials.states([...keyIds], [...userIds]);
      for (const stream of judged) {
        const error = this.streams.has(stream) ? failsCheck(stream, states) : null;
        if (error) this.end(stream, error);
      }
    } catch (error) {
      this.deps.logger.warn({ err: error, streams: judged.length }, "could not re-check the credentials of open streams");
    } finally {
      this.checking = false;
    }
  }

  /** Streams this process follows (tests, metrics). */
  size(): number {
    return this.streams.size;
  }

  close(): void {
    clearInterval(this.timer);
    for (const stream of this.streams) this.forget(stream);
  }

  private end(stream: Watched, error: AppError): void {
    if (!this.streams.has(stream)) return;
    this.forget(stream);
    stream.end(error);
  }

  private forget(stream: Watched): void {
    if (stream.expiry) clearTimeout(stream.expiry);
    this.streams.delete(stream);
  }
}
