import path from "node:path";
import { defineConfig } from "prisma/config";
// The 7.x adapter, aliased, only for the CLI: 6.19's Wasm schema engine cannot read
// Postgres `name` columns through the 6.19 adapter (prisma/orm#27403).
import { PrismaPg } from "adapter-pg-cli";

export default defineConfig({
  experimental: { adapter: true },
  schema: path.join("prisma", "schema.prisma"),
  engine: "js",
  // allowExitOnIdle: the CLI ends when its work is done, not when the pool's idle connection times out (10 s).
  adapter: async () => new PrismaPg({ connectionString: process.env.DATABASE_URL ?? "", allowExitOnIdle: true }),
});
