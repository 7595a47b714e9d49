// The supervisor: process lifecycle, control socket, signals, reload orchestration.
import { z } from "zod";
import { SupervisorProcess } from "./supervisor.ts";
import { WorkerPool } from "./workers.ts";
import { supervisorOptionsSchema, type Supervisor, type SupervisorOptions } from "./types.ts";

export type { DrainingGeneration, ReloadOutcome, StatusReport, Supervisor, SupervisorEvent, SupervisorEventType, SupervisorOptions, WorkerReload, WorkerStatus } from "./types.ts";
export { DEFAULT_DRAIN_TIMEOUT_MS, DEFAULT_READY_TIMEOUT_MS, MAX_WORKERS } from "./types.ts";
export { usableCpus } from "./cpus.ts";
export { sendControl, type StopResult } from "./client.ts";

/**
 * Starts the supervisor in this process: prepares the runtime dir (refusing one another
 * supervisor uses), creates or adopts the listeners, spawns generation 1 and resolves once
 * it serves. Rejects with a clear Error (bad options, port in use, app fails to boot).
 */
export async function startSupervisor(o: SupervisorOptions): Promise<Supervisor> {
  const r = supervisorOptionsSchema.safeParse(o);
  if (!r.success) throw new Error(`invalid supervisor options: ${z.prettifyError(r.error)}`);
  // One worker keeps the single-process supervisor; N > 1 runs one slot of it per worker.
  return (o.workers ?? 1) > 1 ? WorkerPool.start(o) : SupervisorProcess.start(o);
}
