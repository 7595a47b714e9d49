// Preloaded by `bun test` (bunfig.toml): the app's state files go to a fresh temp dir that is
// removed afterwards, so tests start from zero and never read or change the state of the app
// you run with `npm run dev` / `npm start` (./.liveframe/state).
import { afterAll } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const runtimeDir = mkdtempSync(join(tmpdir(), "liveframe-test-"));
process.env.LIVEFRAME_RUNTIME_DIR = runtimeDir;
afterAll(() => rmSync(runtimeDir, { recursive: true, force: true }));
