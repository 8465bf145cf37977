import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { BenchConfig } from "./config";
import { REPO_ROOT } from "./processes";
import { round } from "./stats";

/** One line of the table: the service's figure next to its same-run baseline. */
export interface Row {
  figure: string;
  measure: string;
  unit: string;
  service: number;
  baseline: number | null;
  /** service / baseline (or as the target reads it), null without a baseline. */
  ratio: number | null;
  target: string | null;
  met: boolean | null;
}

export function row(figure: string, measure: string, unit: string, service: number, baseline: number | null, target: { text: string; met: boolean } | null = null): Row {
  return {
    figure,
    measure,
    unit,
    service: round(service),
    baseline: baseline === null ? null : round(baseline),
    ratio: baseline === null || baseline === 0 ? null : round(service / baseline),
    target: target?.text ?? null,
    met: target?.met ?? null,
  };
}

export function machine() {
  return {
    nproc: os.cpus().length,
    cpu: os.cpus()[0]?.model ?? "unknown",
    memoryGiB: round(os.totalmem() / 2 ** 30, 1),
    node: process.version,
    platform: `${os.type()} ${os.release()}`,
    loadAverage: os.loadavg().map((l) => round(l)),
  };
}

export function markdownTable(rows: readonly Row[]): string {
  const lines = ["| figure | measure | llmq | baseline | ratio | target | met |", "|---|---|---:|---:|---:|---|---|"];
  for (const r of rows) {
    lines.push(`| ${r.figure} | ${r.measure} (${r.unit}) | ${r.service} | ${r.baseline ?? "–"} | ${r.ratio === null ? "–" : `${r.ratio}x`} | ${r.target ?? ""} | ${r.met === null ? "" : r.met ? "yes" : "**no**"} |`);
  }
  return lines.join("\n");
}

/** Writes bench-results/bench-<time>.json and .md, and bench-results/latest.{json,md}. */
export function writeResults(config: BenchConfig, rows: readonly Row[], notes: string[]): string {
  const dir = path.join(REPO_ROOT, "bench-results");
  fs.mkdirSync(dir, { recursive: true });
  const at = new Date().toISOString();
  const result = { at, machine: machine(), config: { ...config, only: config.only ? [...config.only] : null }, rows, notes };
  const header = `Run ${at} on ${result.machine.nproc} CPUs (${result.machine.cpu}), ${result.machine.memoryGiB} GiB, Node ${result.machine.node}, load average at the end ${result.machine.loadAverage.join(" ")}${config.quick ? ", BENCH_QUICK" : ""}.`;
  const markdown = `${header}\n\n${markdownTable(rows)}\n${notes.length ? `\n${notes.map((n) => `- ${n}`).join("\n")}\n` : ""}`;
  const stamp = at.replace(/[:.]/g, "-");
  for (const name of [`bench-${stamp}`, "latest"]) {
    fs.writeFileSync(path.join(dir, `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
    fs.writeFileSync(path.join(dir, `${name}.md`), markdown);
  }
  return markdown;
}
