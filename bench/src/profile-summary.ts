// Summarises a V8 .cpuprofile (node --cpu-prof, BENCH_PROFILE=1): self time by function and by package,
// as a share of the busy time (the samples that are not "(idle)": a process of the bench waits while
// the baselines run) and of all samples; and by package again with the time of Node's core modules and
// of native code (socket writes, string encoding, JSON) charged to the package that called them; and
// the project's own functions by inclusive time (with everything they called, each sample counted once).
// node --import tsx bench/src/profile-summary.ts bench-results/profiles/CPU.*.cpuprofile
import fs from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function owner(url: string): string {
  if (!url) return "(native: GC, (program), writev, ...)";
  const nm = url.lastIndexOf("node_modules/");
  if (nm >= 0) {
    const rest = url.slice(nm + "node_modules/".length).split("/");
    return rest[0]!.startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith("node:")) return url;
  const local = /\/(apps|packages|bench)\/([^/]+)\//.exec(url);
  return local ? `${local[1]}/${local[2]}` : url;
}

for (const file of process.argv.slice(2)) {
  const profile = JSON.parse(fs.readFileSync(file, "utf8")) as Profile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  /** The package of the nearest frame on the stack that is neither native nor in Node's core modules. */
  const caller = (id: number): string => {
    const own = byId.get(id)!.callFrame;
    if (own.functionName === "(garbage collector)" || own.functionName === "(program)") return `${own.functionName}`;
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const url = byId.get(at)!.callFrame.url;
      if (url && !url.startsWith("node:")) return owner(url);
    }
    return owner(own.url);
  };
  let idle = 0;
  const fns = new Map<string, number>();
  const pkgs = new Map<string, number>();
  const callers = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const ours = (url: string) => !url.includes("node_modules/") && /\/(apps|packages)\//.test(url);
  const frameName = (frame: ProfileNode["callFrame"]) => `${frame.functionName || "(anonymous)"} ${frame.url.replace(/^.*node_modules\//, "").replace(/^file:\/\/.*?\/(apps|packages)\//, "$1/")}:${frame.lineNumber + 1}`;
  for (const [id, us] of self) {
    const frame = byId.get(id)!.callFrame;
    if (frame.functionName === "(idle)") {
      idle += us;
      continue;
    }
    const name = frameName(frame);
    fns.set(name, (fns.get(name) ?? 0) + us);
    pkgs.set(owner(frame.url), (pkgs.get(owner(frame.url)) ?? 0) + us);
    callers.set(caller(id), (callers.get(caller(id)) ?? 0) + us);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const f = byId.get(at)!.callFrame;
      if (ours(f.url)) seen.add(frameName(f));
    }
    for (const name of seen) inclusive.set(name, (inclusive.get(name) ?? 0) + us);
  }
  const busy = Math.max(1, total - idle);
  const pct = (us: number, of: number) => `${((100 * us) / of).toFixed(1).padStart(5)}%`;
  const top = (map: Map<string, number>, n: number) =>
    [...map].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, us]) => `  ${pct(us, busy)} ${pct(us, total)}  ${k}`).join("\n");
  console.log(
    `${file}: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s busy\n` +
      "(columns: share of busy time, share of all samples)\n" +
      `by package:\n${top(pkgs, 15)}\nby package, with the Node core and native time it caused:\n${top(callers, 15)}\nby function:\n${top(fns, 25)}\nthe project's functions, inclusive:\n${top(inclusive, 20)}\n`,
  );
}
