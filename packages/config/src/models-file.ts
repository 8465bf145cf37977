import fs from "node:fs";
import path from "node:path";
import { type ModelsConfig, resolveModelsConfig } from "@llmq/core";
import YAML from "yaml";

/** Reads a models file (YAML or JSON, by extension; YAML is a superset so both parse) and resolves it. */
export function loadModelsFile(filePath: string, env: Readonly<Record<string, string | undefined>>): ModelsConfig {
  let text: string;
  try {
    text = fs.readFileSync(filePath, "utf8");
  } catch (error) {
    throw new Error(`cannot read models file ${path.resolve(filePath)}: ${(error as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = filePath.endsWith(".json") ? JSON.parse(text) : YAML.parse(text);
  } catch (error) {
    throw new Error(`models file ${filePath} is not valid ${filePath.endsWith(".json") ? "JSON" : "YAML"}: ${(error as Error).message}`);
  }
  try {
    return resolveModelsConfig(raw, env);
  } catch (error) {
    throw new Error(`${(error as Error).message} (in ${filePath})`);
  }
}
