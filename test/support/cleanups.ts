// One cleanup registry per test file: push a function that undoes what a test set up (kill a
// process, close an fd, remove a temp dir); after each test they run newest first, and one
// that fails (the thing is already gone) does not stop the others.
import { afterEach } from "bun:test";

/** Cleanups can wait for a graceful stop; Bun's default hook timeout (5 s) is too short for that. */
const CLEANUP_TIMEOUT_MS = 30_000;

export function cleanupAfterEach(): (() => unknown)[] {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) {
      try {
        await fn();
      } catch {
        // already gone
      }
    }
  }, CLEANUP_TIMEOUT_MS);
  return cleanups;
}
