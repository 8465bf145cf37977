// After a production install (`npm install --omit=dev`): removes the packages that are there only as an
// optional peer of a runtime dependency while being our own dev tools. npm marks such a package
// "devOptional" and keeps it unless both dev and optional dependencies are omitted (omitting optional ones
// would drop the native binaries of argon2 and msgpackr): TypeScript arrives that way, as @prisma/client's
// optional peer. A package any installed package depends on (or needs as a required peer) stays.
// Usage: node scripts/prune-optional-peers.mjs [ROOT]; prints what it removed.
import fs from "node:fs";
import path from "node:path";

const root = path.resolve(process.argv[2] ?? ".");
const lock = JSON.parse(fs.readFileSync(path.join(root, "package-lock.json"), "utf8"));

/** The name a lock entry's path installs (node_modules/a/node_modules/@b/c -> @b/c). */
const nameOf = (location) => location.slice(location.lastIndexOf("node_modules/") + "node_modules/".length);

const installed = Object.entries(lock.packages).filter(([location]) => location !== "" && fs.existsSync(path.join(root, location)));
const needed = new Set();
for (const [location] of installed) {
  const manifest = JSON.parse(fs.readFileSync(path.join(root, location, "package.json"), "utf8"));
  const optionalPeers = manifest.peerDependenciesMeta ?? {};
  for (const name of Object.keys({ ...manifest.dependencies, ...manifest.optionalDependencies })) needed.add(name);
  for (const name of Object.keys(manifest.peerDependencies ?? {})) if (!optionalPeers[name]?.optional) needed.add(name);
}

for (const [location, entry] of installed) {
  if (!entry.devOptional || !location.startsWith("node_modules/") || needed.has(nameOf(location))) continue;
  fs.rmSync(path.join(root, location), { recursive: true, force: true });
  for (const bin of Object.keys(typeof entry.bin === "object" ? entry.bin : {})) fs.rmSync(path.join(root, "node_modules/.bin", bin), { force: true });
  console.log(`removed ${location} (${entry.version}): only an optional peer of a runtime dependency`);
}
