// The CLI's view of the reload layer (src/supervisor/), per the team contract. Loaded
// lazily so that `liveframe init`, `--help` and `--version` never pay for it.
// TODO(cli): replace these interfaces with `import type` from ../supervisor once it lands.
export interface SupervisorEvent {
  type: "ready" | "reloading" | "reloaded" | "reload-failed" | "generation-exited" | "restarting" | "stopping" | "stopped";
  [detail: string]: unknown;
}
export interface ReloadOutcome {
  ok: boolean;
  from: number;
  to?: number;
  pid?: number;
  readyMs?: number;
  totalMs: number;
  connectionsMoved: number;
  requestsDrained: number;
  error?: string;
}
export interface StatusReport {
  supervisorPid: number;
  generation: number;
  generationPid: number;
  uptimeMs: number;
  listeners: { address: string; port: number; family: string }[];
  connections: number;
  reloads: ReloadOutcome[];
}
export interface SupervisorOptions {
  entry: string;
  port: number;
  hostname: string;
  backlog: number;
  runtimeDir: string;
  drainTimeoutMs: number;
  readyTimeoutMs: number;
  server: Record<string, unknown>;
  listenFds?: number[];
  health?: boolean;
  env?: Record<string, string>;
  onEvent?(e: SupervisorEvent): void;
}
export interface Supervisor {
  reload(o?: { timeoutMs?: number; reason?: string }): Promise<ReloadOutcome>;
  status(): StatusReport;
  stop(): Promise<void>;
  readonly exited: Promise<number>;
}
type ControlRequest = { cmd: "reload"; timeoutMs: number } | { cmd: "status" } | { cmd: "stop" };

interface SupervisorModule {
  startSupervisor(o: SupervisorOptions): Promise<Supervisor>;
}
interface ClientModule {
  sendControl(runtimeDir: string, req: ControlRequest): Promise<unknown>;
}

const SUPERVISOR = "../supervisor/index.ts";
const CLIENT = "../supervisor/client.ts";

export async function startSupervisor(o: SupervisorOptions): Promise<Supervisor> {
  const mod = (await import(SUPERVISOR)) as SupervisorModule;
  return mod.startSupervisor(o);
}

export async function sendControl(runtimeDir: string, req: ControlRequest): Promise<unknown> {
  const mod = (await import(CLIENT)) as ClientModule;
  return mod.sendControl(runtimeDir, req);
}
