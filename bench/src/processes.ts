import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { sleep } from "./stats";

export const REPO_ROOT = path.resolve(__dirname, "../..");

/** A child process of the bench: its output is kept (the last 64 KiB) to explain a failure. */
export interface Service {
  name: string;
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** `node [nodeArgs] --import tsx <script> [args]` from the repository root, with `env` on top of PATH only. */
export function startService(name: string, script: string, env: Record<string, string>, nodeArgs: string[] = [], args: string[] = []): Service {
  const child = spawn(process.execPath, [...nodeArgs, "--import", "tsx", script, ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-65_536);
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  return {
    name,
    child,
    output: () => output,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Resolves once `service` printed `marker` (returning the rest of that line), or fails with its output. */
export async function waitForOutput(service: Service, marker: string, timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const output = service.output();
    const at = output.indexOf(marker);
    if (at >= 0) return output.slice(at + marker.length).split("\n")[0]!.trim();
    if (service.child.exitCode !== null) break;
    await sleep(50);
  }
  throw new Error(`${service.name} did not print "${marker}":\n${service.output()}`);
}

/** Resolves once GET `url` answers 200, or fails with the service's output. */
export async function waitForHttp(service: Service, url: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (service.child.exitCode !== null) break;
    try {
      if ((await fetch(url)).status === 200) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`${service.name} did not answer ${url}:\n${service.output()}`);
}

/**
 * `pid` and its descendants that are Node processes (the API's cluster processes; not the esbuild
 * service tsx starts in each), from /proc/<pid>/task/<tid>/children (Linux).
 */
export function nodeProcesses(pid: number): number[] {
  return processTree(pid).filter((each) => {
    try {
      // The executable, not /proc/<pid>/comm: Node 24 names its main thread "MainThread" there.
      return path.basename(fs.readlinkSync(`/proc/${each}/exe`)) === "node";
    } catch {
      return false;
    }
  });
}

/** `pid` and its descendants, from /proc/<pid>/task/<tid>/children (Linux). */
export function processTree(pid: number): number[] {
  const pids = [pid];
  for (let i = 0; i < pids.length; i++) {
    let tasks: string[] = [];
    try {
      tasks = fs.readdirSync(`/proc/${pids[i]}/task`);
    } catch {
      continue;
    }
    for (const task of tasks) {
      try {
        for (const child of fs.readFileSync(`/proc/${pids[i]}/task/${task}/children`, "utf8").trim().split(/\s+/)) if (child) pids.push(Number(child));
      } catch {
        // the thread ended meanwhile
      }
    }
  }
  return pids;
}

/** CPU time (user + system, ms) the processes have used so far, from /proc/<pid>/stat (Linux; clock ticks of 10 ms). */
export function cpuMs(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // the process ended meanwhile
    }
  }
  return ticks * 10;
}
