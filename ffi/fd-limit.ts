// The file descriptor limit of this process and how close it is: getrlimit(2) RLIMIT_NOFILE and
// /proc/self/fd (proc(5)). No need to raise the soft limit here: Bun raises it to the hard limit
// at startup (measured on 1.4.5: `ulimit -Sn 128` under a hard limit of 20000 runs with 20000), as
// Go does since 1.19; a low HARD limit is what liveframe has to live with.
import { readdirSync } from "node:fs";
import { getResourceLimit } from "./mmap.ts";

/** getrlimit(2) resource number of RLIMIT_NOFILE on Linux. */
const RLIMIT_NOFILE = 7;
/** What this process may hold when the limit is "unlimited" (the kernel's own cap is nr_open). */
const UNLIMITED = 1 << 30;

/** The soft RLIMIT_NOFILE: open(2), accept(2) and recvmsg(2) fail with EMFILE at this many fds. */
export function fileLimit(): number {
  const { soft } = getResourceLimit(RLIMIT_NOFILE);
  return soft >= BigInt(UNLIMITED) ? UNLIMITED : Number(soft);
}

/**
 * How many fds this process holds now (the entries of /proc/self/fd, less the one that reading
 * it takes). Null when it cannot be read, which at the limit itself is the usual reason (EMFILE).
 */
export function openFdCount(): number | null {
  try {
    return readdirSync("/proc/self/fd").length - 1;
  } catch {
    return null;
  }
}

/** "126 of 128 fds open (RLIMIT_NOFILE)", or "all 128 fds in use (RLIMIT_NOFILE)" when even counting failed. */
export function describeFdUse(): string {
  const limit = fileLimit();
  const open = openFdCount();
  return open === null ? `all ${limit} fds in use (RLIMIT_NOFILE)` : `${open} of ${limit} fds open (RLIMIT_NOFILE)`;
}
