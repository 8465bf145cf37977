#!/usr/bin/env node
// In a checkout with the dev tools installed, the TypeScript sources run through tsx (no build to get out
// of date); a production install has no tsx and runs the build (`npm run build` writes dist/main.js).
let tsx;
try {
  tsx = require.resolve("tsx/cjs");
} catch {
  tsx = undefined;
}
if (tsx) {
  require(tsx);
  require("../src/main.ts");
} else {
  // A path built at run time: dist/ is a build output, absent from a checkout (the boundary linter
  // resolves literal requires).
  require(require("node:path").join(__dirname, "..", "dist", "main.js"));
}
