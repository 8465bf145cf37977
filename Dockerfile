# One image for the API and the worker; docker-compose.yml picks the command.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
COPY apps/api/package.json apps/api/
COPY apps/worker/package.json apps/worker/
COPY apps/cli/package.json apps/cli/
COPY apps/dashboard/package.json apps/dashboard/
COPY packages/config/package.json packages/config/
COPY packages/core/package.json packages/core/
COPY packages/db/package.json packages/db/
COPY packages/queue/package.json packages/queue/
COPY packages/providers/package.json packages/providers/
COPY packages/engine/package.json packages/engine/
COPY packages/runtime/package.json packages/runtime/
COPY packages/testkit/package.json packages/testkit/
COPY packages/webhooks/package.json packages/webhooks/
COPY tests/stack/package.json tests/stack/
COPY tests/boundaries/package.json tests/boundaries/
COPY bench/package.json bench/
# Dev dependencies are kept: the services run TypeScript through tsx, and migrations need the Prisma CLI.
RUN npm ci --include=dev --no-audit --no-fund
COPY . .
RUN DATABASE_URL=postgresql://build/unused npx prisma generate
# The API serves the built dashboard at /dashboard/ (DASHBOARD_DIR defaults to apps/dashboard/dist).
RUN npm run build:dashboard
USER node
EXPOSE 3000
CMD ["node", "--import", "tsx", "apps/api/src/main.ts"]
