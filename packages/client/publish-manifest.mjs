// Writes dist/package.json: the manifest to publish (`npm publish packages/client/dist`). The workspace's
// own package.json points at src/ (run as TypeScript by tsx, jest and vite, no build needed in development);
// the published one points at the ESM build and its declarations.
import fs from "node:fs";

const manifest = JSON.parse(fs.readFileSync(new URL("./package.json", import.meta.url), "utf8"));
const { scripts: _scripts, devDependencies: _dev, main: _main, types: _types, exports: _exports, ...rest } = manifest;
const published = {
  ...rest,
  type: "module",
  main: "./index.js",
  module: "./index.js",
  types: "./index.d.ts",
  exports: { ".": { types: "./index.d.ts", import: "./index.js", default: "./index.js" } },
};
fs.writeFileSync(new URL("./dist/package.json", import.meta.url), `${JSON.stringify(published, null, 2)}\n`);
fs.copyFileSync(new URL("../../docs/client.md", import.meta.url), new URL("./dist/README.md", import.meta.url));
