// What the control socket and the signals drive: one supervisor (one generation process at a
// time), or a pool of worker slots (workers.ts). Both answer the same commands and signals in
// the same way; this file is that way, so the two cannot drift apart.
import type { ControlServer } from "./control.ts";

/** A control request, as the control server has validated it. */
export type ControlRequest = { cmd: "reload"; timeoutMs?: number } | { cmd: "status" } | { cmd: "stop" };

/** The server the commands and signals act on. */
export interface Front {
  reload(opts: { timeoutMs?: number; reason?: string }): Promise<unknown>;
  status(): unknown;
  stop(): Promise<unknown>;
  /** A graceful stop has begun: a second stop signal then ends everything at once. */
  readonly stopRequested: boolean;
  /** Ends every process now (a second SIGTERM/SIGINT): what the log line says ends. */
  endNow(): void;
  /** "generation" or "worker": named in the log line of a second stop signal. */
  readonly unitName: string;
}

/** Answers one control request. The runtime dir may have been removed: it (and the socket) is put back first. */
export async function answerControl(front: Front, control: ControlServer | null, req: ControlRequest): Promise<unknown> {
  control?.ensure();
  switch (req.cmd) {
    case "reload":
      return front.reload({ timeoutMs: req.timeoutMs, reason: "liveframe reload" });
    case "status":
      return front.status();
    case "stop":
      await front.stop();
      return { stopped: true, supervisorPid: process.pid };
  }
}

/**
 * SIGHUP reloads. The first SIGTERM/SIGINT stops gracefully (drains up to the drain timeout); a
 * second one while stopping does not wait: a process that does not answer (its event loop
 * blocked, e.g. by app code) must never keep an operator from stopping the server.
 * Returns the function that removes the handlers again.
 */
export function installSignals(front: Front): () => void {
  const handlers: [NodeJS.Signals, () => void][] = [];
  const on = (sig: NodeJS.Signals, fn: () => void) => {
    process.on(sig, fn);
    handlers.push([sig, fn]);
  };
  const onStop = (sig: string) => {
    if (!front.stopRequested) {
      void front.stop();
      return;
    }
    console.error(`liveframe: ${sig} again while stopping: ending every ${front.unitName} now (requests still in flight are cut)`);
    front.endNow();
  };
  on("SIGHUP", () => void front.reload({ reason: "SIGHUP" }));
  on("SIGTERM", () => onStop("SIGTERM"));
  on("SIGINT", () => onStop("SIGINT"));
  return () => {
    for (const [sig, fn] of handlers.splice(0)) process.off(sig, fn);
  };
}
