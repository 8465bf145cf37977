import fs from "node:fs";
import path from "node:path";

/** The repository's root (this file is packages/testkit/src/source-lines.ts). */
const REPO_ROOT = path.resolve(__dirname, "../../..");

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return ["node_modules", "generated", "dist", "test"].includes(entry.name) ? [] : sourceFiles(full);
    return /\.tsx?$/.test(entry.name) ? [full] : [];
  });
}

/**
 * Every line of the TypeScript sources under `dirs` (relative to the repository; tests, generated code and
 * missing folders skipped) that `pattern` matches, as `path:line: text`: for tests that hold a rule of the
 * codebase ("only X does Y") by reading it.
 */
export function sourceLinesMatching(dirs: readonly string[], pattern: RegExp): string[] {
  return dirs
    .map((dir) => path.join(REPO_ROOT, dir))
    .filter((dir) => fs.existsSync(dir))
    .flatMap(sourceFiles)
    .flatMap((file) =>
      fs
        .readFileSync(file, "utf8")
        .split("\n")
        .flatMap((line, index) => (pattern.test(line) ? [`${path.relative(REPO_ROOT, file)}:${index + 1}: ${line.trim()}`] : [])),
    );
}
