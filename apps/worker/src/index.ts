export { startWorker, type RunningWorker } from "./worker";
export { loadWorkerEnv, type WorkerEnv } from "./env";
export { sweepRetention, type RetentionPolicy, type RetentionRound } from "./retention";
