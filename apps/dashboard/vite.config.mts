/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// Served by the API under /dashboard/, so every asset URL carries that base.
export default defineConfig({
  base: "/dashboard/",
  plugins: [react()],
  // `npm run dev -w @llmq/dashboard`: the API (./scripts/start.sh, port 3000) answers /v1 behind Vite's dev server.
  server: { proxy: { "/v1": { target: process.env.LLMQ_API_URL ?? "http://127.0.0.1:3000", changeOrigin: false } } },
  build: { outDir: "dist", emptyOutDir: true, sourcemap: true },
  test: { include: ["src/**/*.spec.ts", "src/**/*.spec.tsx"], environment: "node" },
});
