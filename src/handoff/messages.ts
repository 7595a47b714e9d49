// Every message liveframe's processes exchange, in one place. Each is validated when it is
// received (parseMessage); a message that does not match is a protocol error naming the peer,
// never a crash. File descriptors never appear in JSON: they ride beside the frame that names
// them (see channel.ts), and a frame says only how many it carries.
import { z } from "zod";
import { movedWebSocketSchema } from "../ws/moved.ts";

const generationNumber = z.number().int().positive();
const count = z.number().int().nonnegative();
const ms = z.number().nonnegative();

export const listenerInfoSchema = z.object({
  address: z.string(),
  port: z.number().int().min(0).max(65535),
  family: z.string(),
});
export type ListenerInfo = z.infer<typeof listenerInfoSchema>;

/** The two fds of a channel end, as they arrive with a `give`/`take` frame. */
export const channelEndsSchema = z.object({ stream: z.number().int().nonnegative(), fds: z.number().int().nonnegative() });

/** What a generation needs to boot; the supervisor sends it first, before anything else. */
export const bootConfigSchema = z.object({
  generation: generationNumber,
  entry: z.string().min(1),
  server: z.record(z.string(), z.unknown()),
  health: z.boolean(),
  drainTimeoutMs: ms,
  runtimeDir: z.string().min(1),
  /** metrics: the region to count in, /proc/<supervisor pid>/fd/<fd> (absent: metrics off). */
  metricsFile: z.string().min(1).optional(),
  /** Extension: this process's worker slot (0-based) and the generation's worker count (--workers). */
  worker: count.optional(),
  workers: z.number().int().positive().optional(),
});
export type BootConfig = z.infer<typeof bootConfigSchema>;

// ── supervisor → generation ────────────────────────────────────────────────────────────
export const supervisorMessageSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("boot"), config: bootConfigSchema }),
  /**
   * Carries one fd per listener, in order. Also sent to a generation that was handing over
   * when its peer died mid-takeover: it stops handing over and serves again. `reserve`
   * (extension): connections a take will bring soon (the old generation's count); hold fds free
   * for them rather than fill up from the backlog.
   */
  z.object({ type: z.literal("listen"), listeners: z.array(listenerInfoSchema).min(1).max(64), reserve: count.optional() }),
  /**
   * Carries 2 fds: the stream and fd ends of a channel to generation `to`. Hand everything
   * over: idle connections now, busy ones as they finish (up to the drain timeout). The first
   * `give` is all or nothing: nothing moves unless `to` can take every connection held (peer
   * `offer`/`capacity`), else `give-aborted`. Sent again to a generation already draining when a
   * newer generation serves: its late connections go there from now on, as many as that one has
   * room for (the previous channel is finished and closed).
   */
  z.object({ type: z.literal("give"), to: generationNumber }),
  /** Carries 2 fds: the channel from generation `from`. Adopt what arrives. */
  z.object({ type: z.literal("take"), from: generationNumber }),
  /** A draining generation must end now (too many draining at once): cut its busy requests. */
  z.object({ type: z.literal("cut"), reason: z.string().max(1024) }),
  z.object({ type: z.literal("stop"), timeoutMs: ms }),
]);
export type SupervisorMessage = z.infer<typeof supervisorMessageSchema>;

// ── generation → supervisor ────────────────────────────────────────────────────────────
export const connectionCountsSchema = z.object({
  open: count,
  idle: count,
  busy: count,
  released: count,
  releasing: count.optional(),
  completed: count.optional(),
});
export type ConnectionCounts = z.infer<typeof connectionCountsSchema>;

export const generationMessageSchema = z.discriminatedUnion("type", [
  /** Extension: liveframe's runtime is imported (`runtimeMs` after process start); waiting for `boot`. */
  z.object({ type: z.literal("standing-by"), runtimeMs: ms }),
  /** App imported, start hook done, server built: nothing taken from anyone yet. `appMs`: the app's import (extension). */
  z.object({ type: z.literal("ready"), pid: z.number().int().positive(), bootMs: ms, appMs: ms.optional() }),
  z.object({ type: z.literal("boot-failed"), error: z.string().max(64 * 1024) }),
  z.object({ type: z.literal("listening"), count }),
  /**
   * After a `give`: every connection that was idle has moved to generation `to` (or failed to);
   * `busy` requests finish here and their connections follow as they become idle. The reload's
   * outcome is reported on this message, not when the drain ends.
   */
  z.object({ type: z.literal("handed-over"), to: generationNumber, connectionsMoved: count, failed: count, busy: count, open: count }),
  /**
   * A `give` that did not go through, or stopped: nothing unconfirmed was dropped; this
   * generation serves every connection it still holds. `cause`: `peer-gone`, the peer went away
   * mid-handover (it died, or the channel broke; it waits for a `listen` to serve again or a
   * `give` to a replacement); `no-channel`, the channel to the peer could not be opened or
   * received (at the fd limit, say); `capacity`, the peer cannot take every connection held
   * (its fd limit) or did not say how many it can. In the last two nothing moved and `reason`
   * says why, for the reload to fail with.
   */
  z.object({
    type: z.literal("give-aborted"),
    to: generationNumber,
    reason: z.string().max(4096),
    open: count,
    busy: count,
    /** It still accepts on its listeners (the give failed before it stopped): no `listen` needed. */
    accepting: z.boolean().optional(),
    cause: z.enum(["peer-gone", "no-channel", "capacity"]).optional(),
    /**
     * peer-gone: the connections the peer had confirmed taking before it went (this generation
     * closed its copies on each confirmation, so they are the peer's: lost if it died).
     */
    connectionsMoved: count.optional(),
  }),
  /**
   * The old generation's last word: everything it held has moved or finished. `connectionsMoved`
   * counts all moves, `movedLate` those after `handed-over`; requests that were running at the
   * `give` (and any that followed on the same connections) completed or were cut.
   */
  z.object({
    type: z.literal("given"),
    connectionsMoved: count,
    movedLate: count,
    requestsCompleted: count,
    requestsCut: count,
    failed: count,
  }),
  /** Progress of one `take` (sent after each adopted batch): the supervisor knows what moved even if the giver dies. */
  z.object({ type: z.literal("taking"), from: generationNumber, connectionsAdopted: count }),
  z.object({ type: z.literal("taken"), from: generationNumber.optional(), connectionsAdopted: count }),
  z.object({ type: z.literal("counts"), counts: connectionCountsSchema }),
  z.object({ type: z.literal("stopped") }),
]);
export type GenerationMessage = z.infer<typeof generationMessageSchema>;

// ── old generation ↔ new generation ────────────────────────────────────────────────────
/** Base64 of bytes the old owner read but did not consume: at most one request head + body chunk. */
const bufferedBytes = z.string().max(16 * 1024 * 1024);

/** A WebSocket moving at a frame boundary (src/ws/moved.ts): what its new owner restores it from. */
const movedWebSocket = movedWebSocketSchema;

export const peerMessageSchema = z.discriminatedUnion("type", [
  /** Carries one fd per item, in order; at most 253 (SCM_MAX_FD). */
  z.object({
    type: z.literal("connections"),
    batch: count,
    items: z
      .array(
        z.object({
          buffered: bufferedBytes,
          remote: z.object({ address: z.string(), port: z.number().int() }),
          /** Present when the connection is a WebSocket (issue 11): adopted as one, never parsed as HTTP. */
          websocket: movedWebSocket.optional(),
        }),
      )
      .min(1)
      .max(253),
  }),
  /** `failed` lists item indices the new owner could not adopt: the old owner keeps those. */
  z.object({ type: z.literal("adopted"), batch: count, failed: z.array(count) }),
  /** No more connections will come. */
  z.object({ type: z.literal("done"), connectionsMoved: count }),
  /**
   * Old → new, before a connection moves: it holds this many connections (all it holds, on the
   * first give; later, the ones it wants to move and has no room granted for). Answered by `capacity`.
   */
  z.object({ type: z.literal("offer"), connections: count }),
  /**
   * New → old: it holds fds for this many more of the offered connections (at most what was
   * offered; added to earlier grants on this channel) and nears `fdLimit` beyond that.
   */
  z.object({ type: z.literal("capacity"), connections: count, fdLimit: count }),
]);
export type PeerMessage = z.infer<typeof peerMessageSchema>;

// ── control socket (CLI ↔ supervisor) ──────────────────────────────────────────────────
export const controlRequestSchema = z.discriminatedUnion("cmd", [
  /** Without `timeoutMs` the server's own ready timeout applies (`start --timeout`). */
  z.object({ cmd: z.literal("reload"), timeoutMs: z.number().positive().max(86_400_000).optional() }),
  z.object({ cmd: z.literal("status") }),
  z.object({ cmd: z.literal("stop") }),
]);
export type ControlRequest = z.infer<typeof controlRequestSchema>;

/** A draining generation's end, recorded on the reload that made it drain. */
export const drainResultSchema = z.object({
  generation: count,
  requestsCompleted: count,
  requestsCut: count,
  movedLate: count,
  /** Set when it did not end by itself: killed, crashed, or cut because too many drained at once. */
  note: z.string().optional(),
  at: z.string(),
});

/** A generation finishing busy requests in the background after a reload. */
export const drainingGenerationSchema = z.object({
  generation: count,
  pid: z.number().int(),
  busy: count,
  open: count,
  /** ISO time its busy requests are cut. */
  deadline: z.string(),
  /** The generation its late connections go to. */
  handingTo: count,
});

export const reloadOutcomeSchema = z.object({
  ok: z.boolean(),
  from: count,
  to: generationNumber.optional(),
  pid: z.number().int().optional(),
  readyMs: ms.optional(),
  servingMs: ms.optional(),
  totalMs: ms,
  connectionsMoved: count,
  requestsDrained: count,
  closedBusy: count.optional(),
  /** Requests still running in the old generation when the reload returned: they finish there. */
  busyDraining: count.optional(),
  drainDeadline: z.string().optional(),
  /** Filled in later, when the old generation has drained. */
  drained: drainResultSchema.optional(),
  /** The old generation died during the handover: how (its exit), and what it still held. */
  oldGenerationDied: z.string().optional(),
  connectionsLost: count.optional(),
  standby: z.boolean().optional(),
  error: z.string().optional(),
  reason: z.string().optional(),
  at: z.string().optional(),
  /** Extension (--workers N > 1): each worker slot's part of the reload. */
  workers: z
    .array(
      z.object({
        worker: count,
        ok: z.boolean(),
        pid: z.number().int().optional(),
        connectionsMoved: count,
        busyDraining: count.optional(),
        error: z.string().optional(),
      }),
    )
    .optional(),
});

/** Extension: one worker of the serving generation (one per slot; one without --workers). */
export const workerStatusSchema = z.object({
  worker: count,
  generation: count,
  pid: z.number().int(),
  connections: count,
  requests: count,
  phase: z.string(),
  restarts: count,
});

export const statusReportSchema = z.object({
  supervisorPid: z.number().int(),
  generation: count,
  generationPid: z.number().int(),
  uptimeMs: ms,
  listeners: z.array(listenerInfoSchema),
  connections: count,
  reloads: z.array(reloadOutcomeSchema),
  restarts: count,
  runtimeDir: z.string(),
  standbyPid: z.number().int().optional(),
  phase: z.string().optional(),
  draining: z.array(drainingGenerationSchema).optional(),
  readyTimeoutMs: ms.optional(),
  /** metrics: where /metrics is served (--metrics). */
  metricsUrl: z.string().optional(),
  workerPids: z.array(z.number().int()).optional(),
  workers: z.array(workerStatusSchema).optional(),
});

export const controlResponseSchema = z.discriminatedUnion("ok", [
  z.object({ ok: z.literal(true), cmd: z.enum(["reload", "status", "stop"]), result: z.unknown() }),
  z.object({ ok: z.literal(false), error: z.string() }),
]);
export type ControlResponse = z.infer<typeof controlResponseSchema>;

/** Longest frame any peer may send; anything longer is hostile or broken. */
export const MAX_FRAME_BYTES = 32 * 1024 * 1024;

/**
 * Validates one decoded JSON value against a schema. Throws an Error naming the peer and
 * the first problem, for the caller to log before it drops the connection.
 */
export function parseMessage<T>(schema: z.ZodType<T>, value: unknown, peer: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const where = issue && issue.path.length ? ` at ${issue.path.join(".")}` : "";
  throw new Error(`malformed message from ${peer}${where}: ${issue?.message ?? "invalid"}`);
}
