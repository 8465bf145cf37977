import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { memoisedClose } from "@llmq/core";
import { createLogger, loadModelsFile } from "@llmq/config";
import { UserRepository, createDatabase } from "@llmq/db";
import { RedisStats, closeRedis, createRedis, keySpace, redisTargetOf, subscribeCredentialChanges, subscribeTaskUpdates } from "@llmq/queue";
import { type AppOptions, createApp } from "./app";
import { listenOptions } from "./cluster";
import { type AppDeps, buildDeps } from "./deps";
import type { ApiEnv } from "./env";

export interface RunningApi {
  url: string;
  server: Server;
  deps: AppDeps;
  /** Idempotent: stops accepting, closes streams and connections, each step on its own. */
  close(): Promise<void>;
}

/** Opens connections, ensures the admin account, and listens. Used by main.ts and by tests. */
export async function startApi(env: ApiEnv, processEnv: NodeJS.ProcessEnv = {}, options: AppOptions = {}): Promise<RunningApi> {
  const logger = createLogger({ name: "api", level: env.LOG_LEVEL, format: env.LOG_FORMAT });
  const models = loadModelsFile(env.MODELS_FILE, processEnv);
  const db = createDatabase({ databaseUrl: env.DATABASE_URL, poolSize: 20 });
  const stats = env.REDIS_STATS ? new RedisStats() : undefined;
  const redisTarget = redisTargetOf(env);
  const connections = {
    db,
    redis: createRedis(redisTarget, { name: "api", stats }),
    queueRedis: createRedis(redisTarget, { name: "api-queue", stats }),
    jobsRedis: createRedis(redisTarget, { name: "api-jobs", stats }),
    subscriber: createRedis(redisTarget, { blocking: true, name: "api-events", stats }),
    redisStats: stats,
  };
  await new UserRepository(db).ensureAdmin();
  const keys = keySpace(env.REDIS_PREFIX);
  const deps = buildDeps(env, models, keys, connections, logger);
  // One subscription per process feeds every SSE client of the live task list.
  await subscribeTaskUpdates(connections.subscriber, keys, (updates) => deps.feed.accept(updates));
  // The same connection hears revoked keys, deleted and demoted users: open streams they granted end, and
  // the cache of resolved keys is dropped (StreamGuard's onChange). A gap in hearing drops the cache too,
  // and has open streams' credentials read again.
  const credentialSubscription = await subscribeCredentialChanges(
    connections.subscriber,
    keys,
    (change) => deps.streamGuard.apply(change),
    () => {
      deps.apiKeyCache.clear();
      void deps.streamGuard.recheck();
    },
  );
  deps.apiKeyCache.follow(credentialSubscription);
  if (env.ADMIN_EMAIL && env.ADMIN_PASSWORD) await deps.auth.bootstrapAdmin(env.ADMIN_EMAIL, env.ADMIN_PASSWORD);
  const server = createApp(deps, options).listen(listenOptions(env.PORT, env.HOST));
  await new Promise<void>((resolve, reject) => {
    server.once("listening", resolve);
    server.once("error", reject);
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${env.HOST}:${port}`;
  logger.info({ url, models: models.models.map((m) => m.id) }, "api listening");

  const close = memoisedClose(
    [
      ["http", () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); })],
      ["events", async () => {
        deps.hub.close();
        deps.feed.close();
        deps.streamGuard.close();
        await deps.streamLeases.close();
      }],
      ["engine", () => deps.engine.close()],
      ["queues", () => Promise.all([deps.queues.close(), deps.batchJobs.close(), deps.webhookJobs.close()])],
      ["batch parser", () => deps.batchParser.close()],
      ["redis", () => Promise.all([connections.redis, connections.queueRedis, connections.jobsRedis, connections.subscriber].map(closeRedis))],
      ["postgres", () => db.$disconnect()],
    ],
    logger,
  );
  return { url, server, deps, close };
}
