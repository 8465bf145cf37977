import { execFileSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { freePorts, pruneReservations } from "../src/ports";

// The ports every throwaway server starts on: never from the kernel's ephemeral range (where PORT=0
// servers and outgoing connections take theirs), free, and never handed to two finders within the hold,
// whether they ask from a test or from scripts/lib.sh.
const reservations = path.join(os.tmpdir(), "llmq-ports");
const reservation = (port: number) => path.join(reservations, String(port));
const ephemeralStart = Number(fs.readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
const expire = (port: number) => {
  const longAgo = new Date(Date.now() - 60 * 60_000);
  fs.utimesSync(reservation(port), longAgo, longAgo);
};

describe("freePorts", () => {
  it("hands out distinct ports below the ephemeral range, each reserved by a file naming its finder", async () => {
    const ports = await freePorts(40);
    expect(new Set(ports).size).toBe(40);
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(10_000);
      expect(port).toBeLessThan(ephemeralStart);
      expect(fs.readFileSync(reservation(port), "utf8").trim()).toBe(String(process.pid));
    }
  });

  it("never hands out a port another finder reserved, whether that finder was a test or scripts/lib.sh", async () => {
    const [port] = await freePorts(1);
    await expect(freePorts(1, { from: port!, to: port! + 1 })).rejects.toThrow(`no free port in ${port}-${port}`);
    const repo = path.resolve(__dirname, "../../..");
    const shell = (command: string) =>
      execFileSync("bash", ["-c", `source '${repo}/scripts/lib.sh' && ${command}`], { cwd: os.tmpdir(), env: { ...process.env, PATH: `${path.dirname(process.execPath)}:${process.env.PATH}` }, encoding: "utf8" }).trim();
    // scripts/lib.sh's free_ports goes through the same reservations (run from any directory).
    const fromShell = Number(shell("free_port"));
    expect(fromShell).toBeLessThan(ephemeralStart);
    expect(fs.existsSync(reservation(fromShell))).toBe(true);
    await expect(freePorts(1, { from: fromShell, to: fromShell + 1 })).rejects.toThrow("no free port");
    // Once the hold has passed, the port is anyone's again.
    expire(port!);
    expect(await freePorts(1, { from: port!, to: port! + 1 })).toEqual([port]);
  });

  it("never hands out a port something listens on, even with no reservation standing", async () => {
    const [port] = await freePorts(1);
    expire(port!);
    const listener = net.createServer();
    await new Promise<void>((resolve) => listener.listen(port, "127.0.0.1", resolve));
    try {
      await expect(freePorts(1, { from: port!, to: port! + 1 })).rejects.toThrow("no free port");
    } finally {
      await new Promise((resolve) => listener.close(resolve));
    }
  });

  it("removes expired reservations (past 2,000 of them, at each search) and keeps the standing ones", async () => {
    const [standing] = await freePorts(1);
    // Expired reservations of ports above every real one (no finder hands them out). Other suites' finders
    // may prune them too, so the test asks for the prune at any count and reads what is left.
    const expired = Array.from({ length: 50 }, (_, i) => 70_000 + i);
    for (const port of expired) {
      fs.writeFileSync(reservation(port), "0\n");
      expire(port);
    }
    pruneReservations(0);
    expect(expired.filter((port) => fs.existsSync(reservation(port)))).toEqual([]);
    expect(fs.existsSync(reservation(standing!))).toBe(true);
  });
});
