// Every message liveframe's processes exchange, in one place. Each is validated when it is
// received (parseMessage); a message that does not match is a protocol error naming the peer,
// never a crash. File descriptors never appear in JSON: they ride beside the frame that names
// them (see channel.ts), and a frame says only how many it carries.
import { z } from "zod";

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
});
export type BootConfig = z.infer<typeof bootConfigSchema>;

// ── supervisor → generation ────────────────────────────────────────────────────────────
export const supervisorMessageSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("boot"), config: bootConfigSchema }),
  /**
   * Carries one fd per listener, in order. `reserve` (extension): connections a take will bring
   * soon (the old generation's count); hold fds free for them rather than fill up from the backlog.
   */
  z.object({ type: z.literal("listen"), listeners: z.array(listenerInfoSchema).min(1).max(64), reserve: count.optional() }),
  /** Carries 2 fds: the stream and fd ends of a channel to generation `to`. Hand everything over. */
  z.object({ type: z.literal("give"), to: generationNumber }),
  /** Carries 2 fds: the channel from generation `from`. Adopt what arrives. */
  z.object({ type: z.literal("take"), from: generationNumber }),
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
   * The old generation's last word: everything it held has moved or finished. With `error`
   * (extension), the give did not happen: nothing moved, it keeps serving all it holds, and
   * `error` says why (the new generation cannot take them all, or the give's fds were lost).
   */
  z.object({
    type: z.literal("given"),
    connectionsMoved: count,
    requestsDrained: count,
    closedBusy: count,
    failed: count,
    error: z.string().max(64 * 1024).optional(),
  }),
  z.object({ type: z.literal("taken"), connectionsAdopted: count }),
  z.object({ type: z.literal("counts"), counts: connectionCountsSchema }),
  z.object({ type: z.literal("stopped") }),
]);
export type GenerationMessage = z.infer<typeof generationMessageSchema>;

// ── old generation ↔ new generation ────────────────────────────────────────────────────
/** Base64 of bytes the old owner read but did not consume: at most one request head + body chunk. */
const bufferedBytes = z.string().max(16 * 1024 * 1024);

export const peerMessageSchema = z.discriminatedUnion("type", [
  /** Carries one fd per item, in order; at most 253 (SCM_MAX_FD). */
  z.object({
    type: z.literal("connections"),
    batch: count,
    items: z
      .array(z.object({ buffered: bufferedBytes, remote: z.object({ address: z.string(), port: z.number().int() }) }))
      .min(1)
      .max(253),
  }),
  /** `failed` lists item indices the new owner could not adopt: the old owner keeps those. */
  z.object({ type: z.literal("adopted"), batch: count, failed: z.array(count) }),
  /** No more connections will come. */
  z.object({ type: z.literal("done"), connectionsMoved: count }),
  /** Old → new, before anything moves: it holds this many connections. Answered by `capacity`. */
  z.object({ type: z.literal("offer"), connections: count }),
  /** New → old: it can adopt this many now (fds held for them) before it nears `fdLimit`. */
  z.object({ type: z.literal("capacity"), connections: count, fdLimit: count }),
]);
export type PeerMessage = z.infer<typeof peerMessageSchema>;

// ── control socket (CLI ↔ supervisor) ──────────────────────────────────────────────────
export const controlRequestSchema = z.discriminatedUnion("cmd", [
  z.object({ cmd: z.literal("reload"), timeoutMs: z.number().positive().max(86_400_000) }),
  z.object({ cmd: z.literal("status") }),
  z.object({ cmd: z.literal("stop") }),
]);
export type ControlRequest = z.infer<typeof controlRequestSchema>;

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
  standby: z.boolean().optional(),
  error: z.string().optional(),
  reason: z.string().optional(),
  at: z.string().optional(),
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
