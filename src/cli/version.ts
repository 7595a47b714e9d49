// The version printed by `liveframe --version`: package.json's, read once.
import { readFileSync } from "node:fs";

export const PACKAGE_ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

export function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(`${PACKAGE_ROOT}/package.json`, "utf8")) as { version?: unknown };
    return typeof pkg.version === "string" ? pkg.version : "0.0.0";
  } catch {
    return "0.0.0";
  }
}
