import { checkBoundaries, DEFAULT_PATHS } from "./check";

// `npm run lint:boundaries [paths...] [--max-depth N]`: prints every violation and exits 1 if there is one.
async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const depthAt = args.indexOf("--max-depth");
  const maxDepth = depthAt === -1 ? undefined : Number(args.splice(depthAt, 2)[1]);
  const paths = args.length > 0 ? args : DEFAULT_PATHS;
  const { violations, modules, dependencies } = await checkBoundaries(paths, { maxDepth });
  for (const v of violations) console.log(`boundary violation ${v.rule}: ${v.from} -> ${v.to}${v.comment ? ` (${v.comment})` : ""}`);
  console.log(violations.length === 0 ? `boundaries hold (${modules} modules, ${dependencies} imports)` : `${violations.length} boundary violation(s)`);
  process.exitCode = violations.length === 0 ? 0 : 1;
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 2;
});
