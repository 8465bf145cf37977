import { createBullBoard } from "@bull-board/api";
import { BullMQAdapter } from "@bull-board/api/bullMQAdapter";
import { ExpressAdapter } from "@bull-board/express";
import { AuthenticationError, type ModelsConfig } from "@llmq/core";
import { BATCH_QUEUE, type RedisConnection } from "@llmq/queue";
import { Queue } from "bullmq";
import type { RequestHandler, Router } from "express";
import { secretMatcher } from "../http/secret-match";

export const ADMIN_QUEUES_PATH = "/admin/queues";

/** The admin key from `Authorization: Bearer <key>` or, for a browser, HTTP Basic with the key as password (any user name). */
function presentedSecret(header: string): string | null {
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (bearer?.[1]) return bearer[1];
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!basic?.[1]) return null;
  const decoded = Buffer.from(basic[1], "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  return colon >= 0 ? decoded.slice(colon + 1) : null;
}

/** Lets the admin key through; anyone else gets a 401 that makes a browser ask for it. */
export function adminKeyOnly(adminApiKey: string): RequestHandler {
  const isAdminKey = secretMatcher([adminApiKey]);
  return (req, res, next) => {
    const secret = presentedSecret(req.get("authorization") ?? "");
    if (secret && isAdminKey(secret)) return next();
    res.set("WWW-Authenticate", 'Basic realm="llmq admin", charset="UTF-8"');
    next(new AuthenticationError("Bull Board is reserved to the admin: sign in with any user name and the admin key as password."));
  };
}

/** Bull Board over every model's queue and the batch-ingestion queue, served under /admin/queues. */
export function bullBoardRouter(options: { connection: RedisConnection; prefix: (queueName: string) => string; models: ModelsConfig }): Router {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(ADMIN_QUEUES_PATH);
  // Queues over the process's BullMQ connection (see AppDeps.jobsRedis); BullMQ
  // leaves a connection it was given open on close().
  const names = [...options.models.models.map((model) => model.queueName), BATCH_QUEUE];
  const queues = names.map((name) => new BullMQAdapter(new Queue(name, { connection: options.connection, prefix: options.prefix(name) })));
  createBullBoard({ queues, serverAdapter, options: { uiConfig: { boardTitle: "llmq queues" } } });
  return serverAdapter.getRouter() as Router;
}
