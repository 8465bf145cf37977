import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";

const REPO_ROOT = path.resolve(__dirname, "../../..");

/**
 * A service started as its own OS process (`node --import tsx <entry>` for a TypeScript source, `node
 * <entry>` for a built file), so signals and event loops are its own.
 */
export interface ServiceProcess {
  child: ChildProcess;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
  /** SIGTERM, then waits for it to exit (no-op when it has exited). */
  stop(): Promise<void>;
}

/**
 * Starts `entry` (relative to the repository) with `env` and resolves once its output matches `ready`.
 * One that does not get ready within `timeoutMs` is killed, not left running behind a caller that gave up.
 */
export function spawnService(entry: string, env: Record<string, string>, ready: RegExp, options: { timeoutMs?: number; children?: ChildProcess[] } = {}): Promise<ServiceProcess> {
  const args = entry.endsWith(".ts") ? ["--import", "tsx", entry] : [entry];
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? "", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  options.children?.push(child);
  let output = "";
  const service: ServiceProcess = {
    child,
    output: () => output,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    },
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${entry} did not start:\n${output}`));
    }, options.timeoutMs ?? 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (ready.test(output)) {
        clearTimeout(timer);
        resolve(service);
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${entry} exited with ${code} before it was ready:\n${output}`));
    });
  });
}
