#!/usr/bin/env node
// Runs the TypeScript sources through tsx, as the services do: no build step to get out of date.
require("tsx/cjs");
require("../src/main.ts");
