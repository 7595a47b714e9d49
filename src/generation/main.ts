// The process entry of one generation. The supervisor spawns it with its channel on fds 3
// (JSON frames) and 4 (fds). It is spawned ahead of need (a standby): the imports below are
// liveframe's runtime, most of a cold start (zod and the wire schemas alone are ~130 ms); it
// says "standing-by" and waits. The app is imported only on `boot`, so it is read from disk at
// reload time, never earlier. What a generation does is generation.ts; this file only builds
// the real environment (env.ts) around it.
import { FdReserve, guardAvailable, libc, setCloexec } from "../../ffi/index.ts";
import { Channel, peerMessageSchema, supervisorMessageSchema } from "../handoff/index.ts";
import type { GenerationMessage, PeerMessage, SupervisorMessage } from "../handoff/index.ts";
import { createServer } from "../http/index.ts";
import { loadApp } from "./boot.ts";
import type { GenerationEnv } from "./env.ts";
import { Generation } from "./generation.ts";
import { GenerationMetrics } from "../metrics/index.ts";

const PR_SET_PDEATHSIG = 1;
const SIGKILL = 9;
/** Fds the supervisor places in every generation (Bun.spawn stdio[3], stdio[4]). */
const SUPERVISOR_CHANNEL = { stream: 3, fds: 4 } as const;
/**
 * Spare fds lent to every receive of fds (see ffi/fd-reserve.ts): a give or take carries 2, a
 * listen one per listener; at the fd limit they would otherwise be lost, and the handover with them.
 */
const SPARE_FDS = 8;

// Die with the supervisor: no orphan may keep serving (or holding the port) without it.
libc.prctl(PR_SET_PDEATHSIG, BigInt(SIGKILL), 0n, 0n, 0n);
const supervisorPidVar = process.env.LIVEFRAME_SUPERVISOR_PID;
if (!supervisorPidVar || libc.getppid() !== Number(supervisorPidVar)) {
  const which = supervisorPidVar ? `is not the supervisor (pid ${supervisorPidVar})` : "is not a liveframe supervisor (LIVEFRAME_SUPERVISOR_PID is not set)";
  console.error(
    `liveframe generation: parent process ${libc.getppid()} ${which}: exiting. This file is started by the liveframe supervisor: run \`liveframe start <app>\` instead`,
  );
  process.exit(70);
}

// Signals meant for the whole process group (Ctrl-C in a terminal, a hangup, systemd's
// KillMode=control-group SIGTERM) reach generations too. The supervisor turns them into a
// graceful stop or a reload and tells us over the channel; dying here on our own would cut
// requests in flight (and look like a crash). If the supervisor dies, PDEATHSIG ends us.
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(sig, () => {});

// Bun.spawn placed our channel at fds 3 and 4 without close-on-exec. Bun's own spawn closes
// extra fds in children anyway; close-on-exec covers every other way an app might exec.
setCloexec(SUPERVISOR_CHANNEL.stream, true);
setCloexec(SUPERVISOR_CHANNEL.fds, true);
const reserve = new FdReserve(SPARE_FDS);

let supervisor: Channel<SupervisorMessage, GenerationMessage> | undefined;
/** metrics: counts this process's requests and handovers in the supervisor's region (--metrics). */
const metrics = new GenerationMetrics(process.pid, (line) => console.error(line));

const env: GenerationEnv = {
  pid: process.pid,
  tell: (m) => {
    metrics.told(m); // metrics: handover counts
    if (supervisor?.isOpen) supervisor.send(m);
  },
  openPeer: (ends, peer, handlers) => Channel.open<PeerMessage, PeerMessage>(ends, peerMessageSchema, peer, handlers, { reserve }),
  loadApp,
  createServer: (app, options) => createServer(metrics.instrument(app), options as never), // metrics: count requests
  announceNumber: (n, worker = 0, workers = 1) => {
    // Which generation (and worker slot) this is was unknown until boot; the app (and its children) read it here.
    process.env.LIVEFRAME_GENERATION = String(n);
    process.env.LIVEFRAME_WORKER = String(worker);
    process.env.LIVEFRAME_WORKERS = String(workers);
  },
  closeFd: (fd) => void libc.close(fd),
  now: () => performance.now(),
  sleep: (ms) => Bun.sleep(ms),
  every: (ms, fn) => void setInterval(fn, ms).unref(),
  log: (line) => console.error(line),
  syncState: syncStates,
  exit: (code) => process.exit(code),
};

const generation = new Generation(env);

supervisor = await Channel.open<SupervisorMessage, GenerationMessage>(
  SUPERVISOR_CHANNEL,
  supervisorMessageSchema,
  "supervisor",
  {
    message: (m, fds) => {
      if (m.type === "boot") metrics.boot(m.config); // metrics: map the region before the app is served
      void generation.receive(m, fds);
    },
    close: (error) => generation.supervisorGone(error),
    // Its fds were lost at the fd limit: the channel stays open and in step (never exit 71 for it).
    undelivered: (m, error) => generation.undelivered(m, error),
  },
  { reserve },
);

// The SIGBUS guard of state files (ffi/sigbus.c) is compiled here, off the reload's path
// (TinyCC takes ~20 ms); the app's defineState then finds it ready.
guardAvailable();

// performance.now() counts from process start: this is start → runtime imported, channel open.
env.tell({ type: "standing-by", runtimeMs: performance.now() });

/** State is optional: sync it if the state layer is present (it is built beside this one). */
async function syncStates(): Promise<void> {
  const path = new URL("../state/index.ts", import.meta.url).href;
  let mod: { syncAllStates?: () => unknown };
  try {
    mod = (await import(path)) as typeof mod;
  } catch {
    return;
  }
  await mod.syncAllStates?.();
}
