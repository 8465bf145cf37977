import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

// Ports for the servers the tests, the bench and start.sh launch (Postgres, Redis, Redis Cluster nodes and
// their buses, an API on a given PORT). A port the kernel hands out for `listen(0)` was not good enough: it
// comes from the ephemeral range, where every `PORT=0` server and every outgoing connection also takes its
// port, and between finding it and the server binding it (up to ~10 s for start.sh) another suite's
// `PORT=0` API once took it (start.sh then found that API ready and its test got 401), and two finders at
// once could be handed the same one. So ports come from below the ephemeral range, which nothing takes
// unasked, are checked free by binding them, and are reserved for HOLD_MS by a file of the port's name in
// one directory every finder on the machine (this module, scripts/lib.sh through it) consults.

/** How long a port found stays reserved for its finder: longer than any suite, bench stage or start. */
const HOLD_MS = 15 * 60_000;
const RESERVATIONS = path.join(os.tmpdir(), "llmq-ports");
/** The lowest port handed out: above the registered services most machines run (Postgres 5432, Redis 6379). */
const LOWEST = 10_000;

/** The first port of the kernel's ephemeral range (Linux reads it from /proc; elsewhere the IANA default). */
function ephemeralStart(): number {
  try {
    const [low] = fs.readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    if (low && low > LOWEST + 1_000) return low;
  } catch {
    // Not Linux.
  }
  return 49_152;
}

/** Whether nothing listens on 127.0.0.1:port (binding it succeeds). */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen({ port, host: "127.0.0.1", exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Whether the reservation `file` was made more than HOLD_MS ago (throws when there is none). */
const expired = (file: string) => Date.now() - fs.statSync(file).mtimeMs >= HOLD_MS;

/** Reserves `port` unless another finder reserved it within HOLD_MS; whether it is now ours. */
function reserve(port: number): boolean {
  const file = path.join(RESERVATIONS, String(port));
  try {
    if (!expired(file)) return false;
    fs.rmSync(file, { force: true });
  } catch {
    // Never reserved.
  }
  try {
    fs.writeFileSync(file, `${process.pid}\n`, { flag: "wx" });
    return true;
  } catch {
    return false;
  }
}

/** Past this many reservations, the expired ones are removed (each finder adds a few files, none removes its own). */
const PRUNE_ABOVE = 2_000;

/** Removes reservations older than HOLD_MS once there are more than `above`; answers how many were removed. */
export function pruneReservations(above = PRUNE_ABOVE): number {
  const names = fs.readdirSync(RESERVATIONS);
  if (names.length <= above) return 0;
  let removed = 0;
  for (const name of names) {
    const file = path.join(RESERVATIONS, name);
    try {
      if (expired(file)) {
        fs.rmSync(file, { force: true });
        removed++;
      }
    } catch {
      // Removed by another finder meanwhile.
    }
  }
  return removed;
}

/**
 * `count` distinct loopback ports, each free when checked and reserved for this caller for HOLD_MS (see
 * above); drawn from `range` (from inclusive, to exclusive), by default from LOWEST to the ephemeral range.
 */
export async function freePorts(count: number, range: { from: number; to: number } = { from: LOWEST, to: ephemeralStart() }): Promise<number[]> {
  fs.mkdirSync(RESERVATIONS, { recursive: true });
  pruneReservations();
  const span = range.to - range.from;
  const ports: number[] = [];
  for (let tries = 0; ports.length < count; tries++) {
    if (tries > 1_000 + count * 100) throw new Error(`no free port in ${range.from}-${range.to - 1} after ${tries} tries (reservations in ${RESERVATIONS})`);
    const port = range.from + Math.floor(Math.random() * span);
    if (ports.includes(port) || !(await bindable(port)) || !reserve(port)) continue;
    ports.push(port);
  }
  return ports;
}

/** A loopback port that was free a moment ago and is reserved for this caller: for a server to start on, or nothing to answer. */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}

/** A loopback TCP server that answers every connection with a line that is not HTTP (an SSH banner), then closes it. */
export async function startNotHttpServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.end("SSH-2.0-OpenSSH_9.2\r\n");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const close = () =>
    new Promise<void>((resolve) => {
      // A half-closed socket would keep close() waiting for the client.
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
  return { port: (server.address() as net.AddressInfo).port, close };
}
