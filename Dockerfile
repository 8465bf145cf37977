# One image for the API and the worker: CMD runs the built API; docker-compose.yml runs the worker and the
# migrations from the same image with other commands. Multi-stage: the build stage has the dev tools
# (TypeScript, esbuild, Vite, the Prisma generators); the runtime stage has the production dependencies,
# the built JavaScript and the migrations only, and runs as the unprivileged `node` user.
#
# No Docker engine runs on the project's machines: scripts/image-steps.sh (run by ./scripts/test.sh) reads
# this file and runs its steps in a clean directory with the same commands, then starts the result.
# Keep to what it understands: FROM [AS], WORKDIR, ENV K=V, COPY [--from=STAGE] SRC... DEST, RUN (shell
# form), USER, EXPOSE, HEALTHCHECK [options] CMD [...], CMD [...]; no ARG, no absolute paths in RUN.

# The Node.js line llmq runs on: scripts/lib.sh's LLMQ_NODE_VERSION and package.json's engines agree.
FROM node:24.22.3-bookworm-slim AS base
WORKDIR /app

# Every workspace's package.json (npm resolves all the workspaces), the lock file, the Prisma schema and
# the install step: the npm installs below stay cached until one of these changes.
FROM base AS manifests
COPY . .
RUN find . -type f ! -name package.json ! -name package-lock.json ! -path ./scripts/lib.sh ! -path ./scripts/prune-optional-peers.mjs ! -path ./prisma/schema.prisma ! -path ./prisma.config.ts -delete && find . -type d -empty -delete

# Dev install, `prisma generate`, then `npm run build`: the services bundled into apps/*/dist, the dashboard into apps/dashboard/dist.
FROM base AS build
COPY --from=manifests /app ./
RUN bash -c 'source scripts/lib.sh && install_dependencies dev'
COPY . .
RUN npm run build

# The production install: the dependencies of the API, the worker and the CLI only (no compiler, test
# runner or bundler), and the Prisma CLI with its adapter for `prisma migrate deploy`.
FROM base AS production-dependencies
COPY --from=manifests /app ./
RUN bash -c 'source scripts/lib.sh && install_dependencies production'

FROM base AS runtime
ENV NODE_ENV=production
COPY --from=production-dependencies /app ./
COPY --from=build /app/apps/api/dist apps/api/dist
COPY --from=build /app/apps/worker/dist apps/worker/dist
COPY --from=build /app/apps/cli/dist apps/cli/dist
COPY --from=build /app/apps/cli/bin apps/cli/bin
COPY --from=build /app/apps/dashboard/dist apps/dashboard/dist
COPY --from=build /app/prisma prisma
COPY --from=build /app/config config
COPY --from=build /app/scripts/prisma-exit-when-done.cjs scripts/
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT || 3000}/readyz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "--enable-source-maps", "apps/api/dist/main.js"]
