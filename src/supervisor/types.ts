// The supervisor's public contract (the CLI builds on it). Extensions beyond the team
// contract are marked "extension".
import { z } from "zod";
import type { ListenerInfo } from "../handoff/index.ts";

/** Long enough for slow uploads and downloads to finish, short enough that a deploy never hangs. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 30_000;
/** An app's start hook may warm caches or open pools. */
export const DEFAULT_READY_TIMEOUT_MS = 60_000;
/**
 * Worker processes per generation, at most: far beyond any core count a single listener
 * serves well, and it bounds the processes (and standbys) one typo could start.
 */
export const MAX_WORKERS = 256;

export const supervisorOptionsSchema = z.object({
  entry: z.string().min(1, "expected the absolute path of the app module").refine((p) => p.startsWith("/"), {
    message: "expected an absolute path for the app module",
  }),
  port: z.number().int().min(0).max(65535),
  hostname: z.string().min(1),
  backlog: z.number().int().min(1).max(65535),
  runtimeDir: z.string().refine((p) => p.startsWith("/"), { message: "expected an absolute runtime dir" }),
  drainTimeoutMs: z.number().positive(),
  readyTimeoutMs: z.number().positive(),
  server: z.record(z.string(), z.unknown()),
  listenFds: z.array(z.number().int().nonnegative()).min(1).optional(),
  health: z.boolean().optional(),
  env: z.record(z.string(), z.string()).optional(),
  onEvent: z.unknown().optional(),
  handleSignals: z.boolean().optional(),
  standby: z.boolean().optional(),
  metrics: z.object({ host: z.string().min(1), port: z.number().int().min(0).max(65535) }).optional(),
  workers: z.number().int().min(1).max(MAX_WORKERS).optional(),
  spread: z.enum(["shared", "reuseport"]).optional(),
});

export type SupervisorEventType =
  | "ready"
  | "reloading"
  | "reloaded"
  | "reload-failed"
  | "generation-exited"
  | "drained"
  | "drain-cut"
  | "restarting"
  | "stopping"
  | "stopped";

/**
 * ready {generation, pid}; reloading {from, reason}; reloaded / reload-failed {outcome};
 * generation-exited {generation, pid, code, signal, expected}; drained {generation,
 * requestsCompleted, requestsCut, movedLate, note?, at} when a draining generation finished
 * (or died: note); drain-cut {generation, busy, reason} when the bound on draining
 * generations cut the oldest; restarting {generation, delayMs, reason, attempt}; stopping {};
 * stopped {code}.
 */
export interface SupervisorEvent {
  type: SupervisorEventType;
  [detail: string]: unknown;
}

export interface SupervisorOptions {
  /** Absolute path of the app module (default-exports {fetch}); optional exports `start` (async warm-up) and `stop`. */
  entry: string;
  port: number;
  hostname: string;
  backlog: number;
  /** Absolute; control socket at `${runtimeDir}/control.sock`. */
  runtimeDir: string;
  drainTimeoutMs: number;
  readyTimeoutMs: number;
  /** Engine limits passed to every generation (src/http ServerOptions). */
  server: Record<string, unknown>;
  /** Adopt these listening fds (systemd LISTEN_FDS) instead of binding. */
  listenFds?: number[];
  /** Generations answer GET /__liveframe/health. */
  health?: boolean;
  env?: Record<string, string>;
  onEvent?(e: SupervisorEvent): void;
  /** Extension: map SIGHUP to reload and SIGTERM/SIGINT to stop (default true). */
  handleSignals?: boolean;
  /**
   * Extension: keep the next generation's process started, with liveframe's runtime imported,
   * so a reload or restart only imports the app (default true; false spawns it cold).
   */
  standby?: boolean;
  /** Extension (metrics): serve Prometheus metrics at http://host:port/metrics (src/metrics). */
  metrics?: { host: string; port: number };
  /**
   * Extension: worker processes per generation (default 1). They share the supervisor's
   * listener and the state region; each slot reloads and restarts on its own (workers.ts).
   */
  workers?: number;
  /**
   * Extension: how connections reach the workers (workers > 1). "shared" (default): every
   * worker accepts on the one listener. "reuseport": one SO_REUSEPORT socket per slot, which
   * the supervisor keeps open across generations. Ignored with listenFds (systemd's sockets).
   */
  spread?: "shared" | "reuseport";
}

/** Extension: one worker slot's part of a reload of N workers. */
export interface WorkerReload {
  /** 0-based slot. */
  worker: number;
  ok: boolean;
  pid?: number;
  connectionsMoved: number;
  busyDraining?: number;
  error?: string;
}

/** Extension: one worker of the serving generation, as `status` shows it. */
export interface WorkerStatus {
  /** 0-based slot. */
  worker: number;
  generation: number;
  pid: number;
  /** Connections open, and requests answered since it started (as last reported, every 500 ms). */
  connections: number;
  requests: number;
  /** booting, serving, reloading, restarting or stopping: this slot's phase. */
  phase: string;
  restarts: number;
}

export interface ReloadOutcome {
  ok: boolean;
  from: number;
  to?: number;
  pid?: number;
  /** Trigger → new generation booted (app imported, start hook done). */
  readyMs?: number;
  /** Extension: trigger → new generation accepting on the listeners. */
  servingMs?: number;
  totalMs: number;
  connectionsMoved: number;
  requestsDrained: number;
  /** Extension: requests cut at the drain timeout (set once the old generation has drained). */
  closedBusy?: number;
  /**
   * Extension: requests still running in the old generation when the reload returned. They
   * finish there in the background (up to the drain timeout) and their connections follow.
   * `requestsDrained` counts the completed ones once the old generation has drained.
   */
  busyDraining?: number;
  /** Extension: ISO time the old generation's busy requests are cut. */
  drainDeadline?: string;
  /** Extension: how the old generation's drain ended (recorded later, when it has). */
  drained?: { generation: number; requestsCompleted: number; requestsCut: number; movedLate: number; note?: string; at: string };
  /** Extension: the old generation died during the handover (its exit); `connectionsMoved` is what the new one adopted. */
  oldGenerationDied?: string;
  /** Extension: connections the old generation held (as last reported) that did not move: lost with it. */
  connectionsLost?: number;
  /** Extension: the new generation was the pre-started standby process (false: spawned cold). */
  standby?: boolean;
  error?: string;
  /** Extension: why the reload happened (control socket, SIGHUP, a caller's reason). */
  reason?: string;
  /** Extension: ISO time the reload started. */
  at?: string;
  /** Extension: with --workers N > 1, each worker's part (what moved to the new worker of its slot). */
  workers?: WorkerReload[];
}

export interface StatusReport {
  supervisorPid: number;
  generation: number;
  generationPid: number;
  uptimeMs: number;
  listeners: ListenerInfo[];
  connections: number;
  /** Recent reloads, newest last. */
  reloads: ReloadOutcome[];
  /** Extension: crash restarts since start. */
  restarts: number;
  /** Extension. */
  runtimeDir: string;
  /** Extension: the standby process (runtime imported, waiting to become the next generation), once it waits. */
  standbyPid?: number;
  /** Extension: booting, serving, reloading, restarting or stopping (phase.ts). */
  phase?: string;
  /** Extension: old generations finishing busy requests in the background. */
  draining?: DrainingGeneration[];
  /** Extension: the ready timeout (`start --timeout`) a reload without --timeout uses. */
  readyTimeoutMs?: number;
  /** Extension (metrics): where the metrics are served, when they are. */
  metricsUrl?: string;
  /** Extension: the serving generation's worker pids, by slot (one without --workers). */
  workerPids?: number[];
  /** Extension: each worker of the serving generation, by slot. */
  workers?: WorkerStatus[];
}

export interface DrainingGeneration {
  generation: number;
  pid: number;
  /** Connections with a request in progress (as last reported, every 500 ms). */
  busy: number;
  open: number;
  /** ISO time its busy requests are cut. */
  deadline: string;
  /** The generation its late connections go to (0: none serves yet). */
  handingTo: number;
}

export interface Supervisor {
  /**
   * One at a time: a reload requested while another runs is refused (ok: false, error says why).
   * Resolves once the new generation serves and the idle connections moved; busy ones drain in
   * the background. Without `timeoutMs` the configured `readyTimeoutMs` applies.
   */
  reload(o?: { timeoutMs?: number; reason?: string }): Promise<ReloadOutcome>;
  status(): StatusReport;
  /** Graceful: stop accepting, finish in-flight requests (bounded by drainTimeoutMs), exit. */
  stop(): Promise<void>;
  /** Resolves with the exit code once the supervisor has stopped. */
  readonly exited: Promise<number>;
}
