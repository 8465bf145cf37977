import fs from "node:fs";
import type { CheckedResponse } from "@llmq/api";

/** Most problems one failure message lists. */
const MAX_LISTED = 20;

/**
 * Every answer the API under test gave on a declared route, held against the route's declaration (the
 * API's checkResponses): `assertClean` fails the suite when one had an undeclared status or a body its
 * declared schema refuses. With LLMQ_RESPONSE_TALLY set to a file, each ledger appends its counts there
 * (`checked problems`), so one run can report how many responses were checked in all.
 */
export class ResponseLedger {
  checked = 0;
  readonly problems: CheckedResponse[] = [];

  /** `tally`: the file the counts go to (default LLMQ_RESPONSE_TALLY; null: none). */
  constructor(private readonly tally: string | null = process.env.LLMQ_RESPONSE_TALLY ?? null) {}

  readonly observe = (response: CheckedResponse): void => {
    this.checked++;
    if (response.problem) this.problems.push(response);
  };

  /** Appends the counts to LLMQ_RESPONSE_TALLY (if set), then throws if any response broke the contract. */
  assertClean(): void {
    if (this.tally) fs.appendFileSync(this.tally, `${this.checked} ${this.problems.length}\n`);
    if (this.problems.length === 0) return;
    const listed = this.problems.slice(0, MAX_LISTED).map((p) => `  ${p.route} -> ${p.status}: ${p.problem}`);
    const more = this.problems.length > MAX_LISTED ? [`  ...and ${this.problems.length - MAX_LISTED} more`] : [];
    throw new Error(`${this.problems.length} of ${this.checked} responses do not match their route's declaration (apps/api route()):\n${[...listed, ...more].join("\n")}`);
  }
}
