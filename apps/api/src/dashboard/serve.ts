import fs from "node:fs";
import path from "node:path";
import express, { type RequestHandler, type Response } from "express";

/**
 * Where `npm run build -w @llmq/dashboard` writes the app, from this code's place in the repository: the
 * source file is apps/api/src/dashboard/serve.ts, the built bundle apps/api/dist/main.js.
 */
export const DEFAULT_DASHBOARD_DIR = path.resolve(__dirname, __filename.endsWith(".ts") ? "../../../dashboard/dist" : "../../dashboard/dist");

// The app loads only its own files; React sets `style` attributes (bar widths), hence 'unsafe-inline' for styles alone.
const CONTENT_SECURITY_POLICY = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'";

const NOT_BUILT = (dir: string) =>
  `The dashboard is not built (no ${path.join(dir, "index.html")}).\n` +
  "Build it with `npm run build -w @llmq/dashboard` (./scripts/start.sh does this), or point DASHBOARD_DIR at a built copy.\n";

/**
 * Serves the dashboard's single-page app under the mount path (`/dashboard`): built files as they are
 * (hashed assets cached for good), any other page path gets index.html so deep links and reloads work.
 * A plain handler rather than API routes: like /docs, it is not part of the documented API.
 */
export function serveDashboard(options: { dir?: string } = {}): RequestHandler {
  const dir = path.resolve(options.dir ?? DEFAULT_DASHBOARD_DIR);
  const indexFile = path.join(dir, "index.html");
  const files = express.static(dir, {
    index: false,
    setHeaders: (res, filePath) => {
      // Vite names assets by content hash: a new build has new names, so an old one can be kept forever.
      if (filePath.startsWith(path.join(dir, "assets") + path.sep)) res.setHeader("Cache-Control", "public, max-age=31536000, immutable");
    },
  });
  const sendIndex = (res: Response) => {
    res.set({ "Cache-Control": "no-cache", "Content-Security-Policy": CONTENT_SECURITY_POLICY, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer" });
    res.sendFile(indexFile);
  };

  return (req, res, next) => {
    if (req.method !== "GET" && req.method !== "HEAD") return next();
    // `/dashboard` -> `/dashboard/`, so the app sees the base path it was built for.
    if (req.path === "/" && !req.originalUrl.split("?")[0]!.endsWith("/")) {
      const query = req.originalUrl.includes("?") ? req.originalUrl.slice(req.originalUrl.indexOf("?")) : "";
      return res.redirect(308, `${req.baseUrl}/${query}`);
    }
    if (!fs.existsSync(indexFile)) {
      res.status(503).type("text/plain").send(NOT_BUILT(dir));
      return;
    }
    files(req, res, () => {
      // A missing asset is a 404, never the page: a script tag must not get HTML back.
      if (req.path.startsWith("/assets/")) return next();
      sendIndex(res);
    });
  };
}
