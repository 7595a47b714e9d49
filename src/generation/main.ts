// The process entry of one generation. The supervisor spawns it with its channel on fds 3
// (JSON frames) and 4 (fds), and drives it: boot → listen and/or take → … → give or stop → exit.
// It is spawned ahead of need (a standby): the imports below are liveframe's runtime, most of a
// cold start (zod and the wire schemas alone are ~130 ms); it says "standing-by" and waits.
// The app is imported only on `boot`, so it is read from disk at reload time, never earlier.
import { FdReserve, guardAvailable, libc, setCloexec } from "../../ffi/index.ts";
import { Channel, ConnectionSender, adoptBatch, channelEndsSchema } from "../handoff/index.ts";
import type { GenerationMessage, PeerMessage, SupervisorMessage, BootConfig } from "../handoff/index.ts";
import { peerMessageSchema, supervisorMessageSchema } from "../handoff/index.ts";
import { createServer, type HttpServer } from "../http/index.ts";
import { describeError, loadApp, type LoadedApp } from "./boot.ts";
import { withHealth } from "./health.ts";
import { noteAdopted } from "./info.ts";

const PR_SET_PDEATHSIG = 1;
const SIGKILL = 9;
/** Fds the supervisor places in every generation (Bun.spawn stdio[3], stdio[4]). */
const SUPERVISOR_CHANNEL = { stream: 3, fds: 4 } as const;
/** How often the supervisor learns this generation's connection counts (for `status`). */
const COUNTS_INTERVAL_MS = 500;
/** How often a draining generation checks whether everything it held has moved or finished. */
const DRAIN_POLL_MS = 10;
/**
 * Spare fds lent to every receive of fds (see ffi/fd-reserve.ts): a give or take carries 2, a
 * listen one per listener; at the fd limit they would otherwise be lost, and the handover with them.
 */
const SPARE_FDS = 8;
/** The new generation answers an offer at once; one silent this long is stuck, and this one keeps all it holds. */
const CAPACITY_WAIT_MS = 10_000;

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

let config: BootConfig | undefined;
let loaded: LoadedApp | undefined;
let server: HttpServer | undefined;
let leaving = false;
/** The first leave()'s promise: a stop during a give must not run the app's stop hook twice. */
let leavingPromise: Promise<void> | undefined;

const supervisor = await Channel.open<SupervisorMessage, GenerationMessage>(
  SUPERVISOR_CHANNEL,
  supervisorMessageSchema,
  "supervisor",
  {
    message: (m, fds) => {
      // Fds this message brought that nothing owns yet; closed if handling it fails.
      const unclaimed = new Set(fds);
      onSupervisor(m, fds, unclaimed).catch((err) => onHandlerFailed(m, unclaimed, err));
    },
    close: (error) => {
      // The supervisor is gone (or broke the protocol): a generation never outlives it.
      if (error) console.error(`liveframe generation ${config?.generation ?? "?"}: ${error.message}`);
      if (!leaving) process.exit(error ? 71 : 0);
    },
    undelivered: (m, error) => onUndelivered(m, error),
  },
  { reserve },
);

function tell(m: GenerationMessage): void {
  if (supervisor.isOpen) supervisor.send(m);
}

// The SIGBUS guard of state files (ffi/sigbus.c) is compiled here, off the reload's path
// (TinyCC takes ~20 ms); the app's defineState then finds it ready.
guardAvailable();

// performance.now() counts from process start: this is start → runtime imported, channel open.
tell({ type: "standing-by", runtimeMs: performance.now() });

async function onSupervisor(m: SupervisorMessage, fds: number[], unclaimed: Set<number>): Promise<void> {
  switch (m.type) {
    case "boot":
      return boot(m.config);
    case "listen": {
      const s = mustHaveServer();
      if (m.reserve) s.reserveForAdoption(m.reserve, { lapses: true });
      for (const fd of fds) {
        s.listen(fd);
        unclaimed.delete(fd);
      }
      tell({ type: "listening", count: fds.length });
      return;
    }
    case "take":
      return take(mustHaveServer(), channelFds(m.type, fds), unclaimed);
    case "give":
      return give(mustHaveServer(), channelFds(m.type, fds), m.to, unclaimed);
    case "stop":
      return stop(m.timeoutMs);
  }
}

/** `take` and `give` carry the two fds of a channel end (stream, fds). */
function channelFds(type: string, fds: number[]): number[] {
  if (fds.length !== 2) throw new Error(`${type} carried ${fds.length} fds, not the 2 of a channel end`);
  return fds;
}

function mustHaveServer(): HttpServer {
  if (server) return server;
  throw new Error("supervisor sent work before boot");
}

/**
 * Handling a supervisor message threw. An unhandled rejection would end this process (Bun
 * exits 11) and with it every connection it holds, so: close the fds nothing took, say what
 * failed, and tell the supervisor in the terms it waits for. Nothing here may throw.
 */
function onHandlerFailed(m: SupervisorMessage, unclaimed: Set<number>, err: unknown): void {
  for (const fd of unclaimed) libc.close(fd);
  const what = `${m.type} failed: ${describeError(err)}`;
  console.error(`liveframe generation ${config?.generation ?? "?"}: ${what}`);
  try {
    switch (m.type) {
      case "boot":
      case "listen":
        // Not serving yet: the supervisor's wait fails with the cause and it kills this process.
        tell({ type: "boot-failed", error: what });
        return;
      case "take":
        // This generation serves already: keep serving. Nothing adopted; the old generation's
        // channel end is closed above, so it finishes its connections itself.
        tell({ type: "taken", connectionsAdopted: 0 });
        return;
      case "give":
        // Nobody to hand to: finish what we hold here, then leave, as when the peer goes away.
        void stopAfterFailedGive();
        return;
      case "stop":
        tell({ type: "stopped" });
        void leave();
        return;
    }
  } catch (e) {
    console.error(`liveframe generation ${config?.generation ?? "?"}: reporting that failure failed too: ${describeError(e)}`);
  }
}

/**
 * A supervisor message arrived but its fds did not (this process is out of fds even with its
 * spares). Nothing was taken from anyone: keep serving, and say why in the terms the supervisor
 * waits for. A give that cannot be received must never end this generation.
 */
function onUndelivered(m: SupervisorMessage, error: Error): void {
  const g = config?.generation ?? "?";
  console.error(`liveframe generation ${g}: ${m.type}: ${error.message}`);
  switch (m.type) {
    case "give":
      tell({
        type: "given",
        connectionsMoved: 0,
        requestsDrained: 0,
        closedBusy: 0,
        failed: 0,
        error: `generation ${g} could not receive its channel to generation ${m.to}: ${error.message}; nothing was handed over and generation ${g} keeps serving its ${server?.counts.open ?? 0} connections`,
      });
      return;
    case "take":
      // The old generation sees the channel closed before we answer its offer, and keeps its connections.
      tell({ type: "taken", connectionsAdopted: 0 });
      return;
    default:
      tell({ type: "boot-failed", error: `${m.type}: ${error.message}` });
  }
}

async function stopAfterFailedGive(): Promise<void> {
  try {
    await server?.stop({ graceful: true, timeoutMs: config?.drainTimeoutMs ?? 30_000 });
  } catch (err) {
    console.error(`liveframe generation ${config?.generation ?? "?"}: stopping after a failed give failed: ${describeError(err)}`);
  }
  tell({ type: "given", connectionsMoved: 0, requestsDrained: 0, closedBusy: 0, failed: 0 });
  await leave();
}

async function boot(c: BootConfig): Promise<void> {
  const started = performance.now();
  config = c;
  // Which generation this is was unknown until now; the app (and its children) read it here.
  process.env.LIVEFRAME_GENERATION = String(c.generation);
  try {
    loaded = await loadApp(c.entry);
    const app = c.health ? withHealth(loaded.app) : loaded.app;
    server = createServer(app, c.server as never);
  } catch (err) {
    tell({ type: "boot-failed", error: err instanceof Error && err.message.startsWith(c.entry) ? err.message : describeError(err) });
    leaving = true;
    setTimeout(() => process.exit(1), 50);
    return;
  }
  tell({ type: "ready", pid: process.pid, bootMs: performance.now() - started, appMs: loaded.importMs });
  setInterval(() => {
    if (server) tell({ type: "counts", counts: server.counts });
  }, COUNTS_INTERVAL_MS).unref();
}

/** New side: adopt every connection the old generation sends until it says done. */
async function take(s: HttpServer, fds: number[], unclaimed: Set<number>): Promise<void> {
  let adopted = 0;
  let reported = false;
  // Once, whichever comes first: `done`, or the old generation's channel breaking (else the
  // supervisor would wait out drainTimeoutMs + grace for it, refusing reloads meanwhile).
  const reportTaken = () => {
    if (reported) return;
    reported = true;
    tell({ type: "taken", connectionsAdopted: adopted });
  };
  const peer = await Channel.open<PeerMessage, PeerMessage>(
    channelEndsSchema.parse({ stream: fds[0], fds: fds[1] }),
    peerMessageSchema,
    "old generation",
    {
      message: (m, got) => {
        if (m.type === "connections") {
          const failed = adoptBatch(s, m, got);
          const n = got.length - failed.length;
          adopted += n;
          noteAdopted(n);
          peer.send({ type: "adopted", batch: m.batch, failed });
        } else if (m.type === "offer") {
          // Hold fds for what is offered, so connections accepted meanwhile cannot take them.
          const capacity = s.adoptCapacity();
          s.reserveForAdoption(Math.min(capacity, m.connections));
          peer.send({ type: "capacity", connections: capacity, fdLimit: s.fdLimit });
        } else if (m.type === "done") {
          s.reserveForAdoption(0);
          reportTaken();
          peer.close();
        } else {
          for (const fd of got) libc.close(fd);
        }
      },
      // A batch whose fds did not arrive: the old generation keeps every connection of it.
      undelivered: (m, error) => {
        console.error(`liveframe generation ${config?.generation}: ${error.message}`);
        if (m.type === "connections") peer.send({ type: "adopted", batch: m.batch, failed: m.items.map((_, i) => i) });
      },
      close: (error) => {
        if (error) console.error(`liveframe generation ${config?.generation}: ${error.message}`);
        s.reserveForAdoption(0);
        reportTaken();
      },
    },
    { reserve },
  );
  for (const fd of fds) unclaimed.delete(fd);
}

/** Old side: stop accepting, move every connection at a request boundary, drain, exit. */
async function give(s: HttpServer, fds: number[], to: number, unclaimed: Set<number>): Promise<void> {
  const drainTimeoutMs = config?.drainTimeoutMs ?? 30_000;
  let peerGone = false;
  const sender = new ConnectionSender((m, f) => peer.send(m, f));
  const capacity = Promise.withResolvers<Extract<PeerMessage, { type: "capacity" }> | string>();
  const peer = await Channel.open<PeerMessage, PeerMessage>(
    channelEndsSchema.parse({ stream: fds[0], fds: fds[1] }),
    peerMessageSchema,
    `generation ${to}`,
    {
      message: (m, got) => {
        for (const fd of got) libc.close(fd);
        if (m.type === "adopted") sender.onAdopted(m.batch, m.failed);
        else if (m.type === "capacity") capacity.resolve(m);
      },
      close: (error) => {
        peerGone = true;
        if (error) console.error(`liveframe generation ${config?.generation}: ${error.message}`);
        capacity.resolve(`generation ${to} closed the channel before saying how many connections it can take${error ? ` (${error.message})` : ""}`);
        sender.abandon();
      },
    },
    { reserve },
  );
  for (const fd of fds) unclaimed.delete(fd);
  // Nothing moves until the new generation says it can take every connection held here: a
  // handover that stops halfway at its fd limit would leave both generations short.
  const refusal = await offerAll(s, peer, to, capacity.promise);
  if (refusal !== null) {
    peer.close();
    console.error(`liveframe generation ${config?.generation}: ${refusal}`);
    tell({ type: "given", connectionsMoved: 0, requestsDrained: 0, closedBusy: 0, failed: 0, error: refusal });
    return;
  }
  const requestsDrained = s.counts.busy;
  s.stopAccepting();
  s.release((c) => sender.add(c));
  let closedBusy = 0;
  const deadline = performance.now() + drainTimeoutMs;
  while (!(sender.settled && s.counts.open === 0) && !peerGone) {
    if (closedBusy === 0 && performance.now() > deadline && s.counts.busy > 0) {
      closedBusy = s.counts.busy;
      console.error(`liveframe generation ${config?.generation}: drain timeout (${drainTimeoutMs} ms): closing ${closedBusy} busy connections`);
      s.closeBusy();
    }
    await Bun.sleep(DRAIN_POLL_MS);
  }
  if (peerGone) {
    // Nobody to hand to: finish what we hold here, then leave.
    await s.stop({ graceful: true, timeoutMs: Math.max(0, deadline - performance.now()) });
  } else {
    peer.send({ type: "done", connectionsMoved: sender.moved });
  }
  tell({ type: "given", connectionsMoved: sender.moved, requestsDrained, closedBusy, failed: sender.failed });
  await leave();
}

/**
 * Holds accepting, offers every connection, and waits for the new generation's capacity. Null
 * when it can take them all (accepting stays held: the caller stops it for good); otherwise
 * accepting resumes and the reason is returned, for the reload to fail with.
 */
async function offerAll(
  s: HttpServer,
  peer: Channel<PeerMessage, PeerMessage>,
  to: number,
  answer: Promise<Extract<PeerMessage, { type: "capacity" }> | string>,
): Promise<string | null> {
  const g = config?.generation;
  s.pauseAccepting();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`generation ${to} did not say within ${CAPACITY_WAIT_MS / 1000} s how many connections it can take`), CAPACITY_WAIT_MS);
  });
  try {
    if (peer.isOpen) peer.send({ type: "offer", connections: s.counts.open });
    const c = await Promise.race([answer, timeout]);
    const held = s.counts.open;
    if (typeof c !== "string" && c.connections >= held) return null;
    s.resumeAccepting();
    const why =
      typeof c === "string"
        ? c
        : `generation ${to} can take ${c.connections} more connections before it nears its file descriptor limit (${c.fdLimit}), and generation ${g} holds ${held}`;
    return `${why}: nothing was handed over, and generation ${g} keeps serving all ${held} connections. ` +
      (typeof c === "string" ? "Retry the reload" : "Raise the fd limit (ulimit -n, systemd LimitNOFILE=) or reload when fewer connections are open");
  } finally {
    clearTimeout(timer);
  }
}

async function stop(timeoutMs: number): Promise<void> {
  if (server) await server.stop({ graceful: true, timeoutMs });
  tell({ type: "stopped" });
  await leave();
}

/** Last steps of every graceful exit: the app's stop hook, state to disk, exit. Runs once. */
function leave(): Promise<void> {
  leaving = true;
  leavingPromise ??= leaveOnce();
  return leavingPromise;
}

async function leaveOnce(): Promise<void> {
  try {
    await loaded?.stop?.();
  } catch (err) {
    console.error(`liveframe generation ${config?.generation}: stop hook failed: ${describeError(err)}`);
  }
  await syncStates();
  // Let the last frames reach the kernel before the process goes.
  await Bun.sleep(5);
  process.exit(0);
}

/** State is optional: sync it if the state layer is present (it is built beside this one). */
async function syncStates(): Promise<void> {
  const path = new URL("../state/index.ts", import.meta.url).href;
  let mod: { syncAllStates?: () => unknown };
  try {
    mod = (await import(path)) as typeof mod;
  } catch {
    return;
  }
  try {
    await mod.syncAllStates?.();
  } catch (err) {
    console.error(`liveframe generation ${config?.generation}: syncing state failed: ${describeError(err)}`);
  }
}
