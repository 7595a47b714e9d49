// Options for a supervisor built in a unit test: no listeners, no control socket, no standby,
// no signal handlers, nothing on disk (the entry and runtime dir do not exist).
import type { SupervisorOptions } from "./types.ts";

export function offlineOptions(extra: Partial<SupervisorOptions> = {}): SupervisorOptions {
  return {
    entry: "/nonexistent/app.ts",
    port: 0,
    hostname: "127.0.0.1",
    backlog: 16,
    runtimeDir: "/nonexistent",
    drainTimeoutMs: 1_000,
    readyTimeoutMs: 1_000,
    server: {},
    standby: false,
    handleSignals: false,
    ...extra,
  } as SupervisorOptions;
}
