// The CLI side of the control socket: one request, one response.
import { lstatSync, readFileSync, readlinkSync, type Stats } from "node:fs";
import type { ControlRequest } from "../handoff/index.ts";
import { controlResponseSchema, parseMessage, reloadOutcomeSchema, statusReportSchema } from "../handoff/index.ts";
import { getuid, peerCred } from "../../ffi/index.ts";
import { controlSocketPath } from "./runtime-dir.ts";
import type { ReloadOutcome, StatusReport } from "./types.ts";

/**
 * status answers at once from a live supervisor; this only bounds a wedged one (stopped with
 * SIGSTOP, swapping), generous for a loaded 2-core machine.
 */
export const DEFAULT_STATUS_TIMEOUT_MS = 10_000;
/** stop answers once the generations have drained: the default drain timeout (30 s) twice over. */
export const DEFAULT_STOP_TIMEOUT_MS = 60_000;
/** A reload answers after its ready timeout plus the old generation's drain; this bounds the drain part. */
const RELOAD_DRAIN_ALLOWANCE_MS = 10 * 60_000;

export interface ControlOptions {
  /** How long to wait for the answer (status, stop); a reload waits its own timeoutMs plus the drain. */
  timeoutMs?: number;
}

export interface StopResult {
  stopped: true;
  supervisorPid: number;
}

export function sendControl(runtimeDir: string, req: { cmd: "reload"; timeoutMs: number }, o?: ControlOptions): Promise<ReloadOutcome>;
export function sendControl(runtimeDir: string, req: { cmd: "status" }, o?: ControlOptions): Promise<StatusReport>;
export function sendControl(runtimeDir: string, req: { cmd: "stop" }, o?: ControlOptions): Promise<StopResult>;
export function sendControl(runtimeDir: string, req: ControlRequest, o?: ControlOptions): Promise<ReloadOutcome | StatusReport | StopResult>;
/**
 * Sends one request to the supervisor running with `runtimeDir`. A reload resolves with its
 * outcome (ok false included: the caller decides the exit code); stop resolves once the
 * supervisor has stopped its generations. Throws a ControlError whose kind says why when no
 * supervisor answers ("not-running": ENOENT / ECONNREFUSED), this uid may not talk to it
 * ("denied"), the paths are not what a supervisor makes ("unsafe": a symlink, not a socket) or
 * it does not answer in time ("timeout"); a plain Error when the answer is not liveframe's.
 */
export async function sendControl(
  runtimeDir: string,
  req: ControlRequest,
  o: ControlOptions = {},
): Promise<ReloadOutcome | StatusReport | StopResult> {
  const path = controlSocketPath(runtimeDir);
  checkPaths(runtimeDir, path, req.cmd);
  const answer = Promise.withResolvers<string>();
  let text = "";
  let socket;
  try {
    socket = await Bun.connect({
      unix: path,
      socket: {
        data(_s, d) {
          text += d.toString("utf8");
        },
        close() {
          answer.resolve(text);
        },
        error(_s, err) {
          answer.reject(err);
        },
      },
    });
  } catch (err) {
    const code = (err as { code?: string }).code ?? "";
    if (code === "ENOENT" || code === "ECONNREFUSED") {
      const detail = code === "ENOENT" ? `no control socket at ${path}` : `nothing listens on ${path} (ECONNREFUSED)`;
      throw new ControlError("not-running", `no liveframe supervisor answers at ${path} (${code}): start one with \`liveframe start\``, detail);
    }
    if (code === "EACCES" || code === "EPERM") {
      const owner = ownerOf(path);
      throw new ControlError(
        "denied",
        `permission denied (${code}) on the control socket ${path}${owner === null ? "" : `: it belongs to uid ${owner} and only that user may connect`}; you are uid ${getuid()}: ${runAs(owner, req.cmd)}`,
      );
    }
    throw new ControlError("failed", `cannot reach the supervisor at ${path}: ${(err as Error).message}`);
  }
  // Who listens, known at connect time even when that process is frozen: named in a timeout.
  let supervisorPid: number | undefined;
  let supervisorUid: number | undefined;
  try {
    const cred = peerCred((socket as unknown as { fd: number }).fd);
    supervisorPid = cred.pid || undefined;
    supervisorUid = cred.uid;
  } catch {
    // not a unix socket we can ask: the timeout message then names no pid
  }
  const me = getuid();
  if (supervisorUid !== undefined && supervisorUid !== me && me !== 0) {
    // It would drop us unanswered (SO_PEERCRED): say so instead of "closed without answering".
    socket.end();
    throw notYours(path, supervisorUid, req.cmd, supervisorPid);
  }
  socket.write(JSON.stringify(req) + "\n");
  const limit =
    req.cmd === "reload"
      ? (req.timeoutMs ?? o.timeoutMs ?? 86_400_000) + RELOAD_DRAIN_ALLOWANCE_MS // no timeoutMs: the server's ready timeout, which the caller passes
      : (o.timeoutMs ?? (req.cmd === "status" ? DEFAULT_STATUS_TIMEOUT_MS : DEFAULT_STOP_TIMEOUT_MS));
  const timer = setTimeout(
    () => answer.reject(new ControlError("timeout", `the supervisor at ${path} did not answer ${req.cmd} within ${limit / 1000} s (timed out)${silenceHint(supervisorPid, req.cmd)}`)),
    limit,
  );
  let raw: string;
  try {
    raw = await answer.promise;
  } finally {
    clearTimeout(timer);
    socket.end();
  }
  if (raw.trim() === "") {
    throw new Error(
      `the supervisor at ${path} closed the connection without answering ${req.cmd}: it may have exited or refused this uid (${getuid()}): check \`liveframe status\` and the supervisor's log`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(raw.trim());
  } catch {
    throw new Error(`malformed message from supervisor at ${path}: not JSON (${JSON.stringify(raw.slice(0, 80))})`);
  }
  const res = parseMessage(controlResponseSchema, json, `supervisor at ${path}`);
  if (!res.ok) throw new Error(res.error);
  if (req.cmd === "reload") return parseMessage(reloadOutcomeSchema, res.result, `supervisor at ${path}`) as ReloadOutcome;
  if (req.cmd === "status") return parseMessage(statusReportSchema, res.result, `supervisor at ${path}`) as StatusReport;
  return res.result as StopResult;
}

/** Why a control request failed, for the CLI's exit code (the message says what to do). */
export type ControlErrorKind = "not-running" | "denied" | "unsafe" | "timeout" | "failed";

export class ControlError extends Error {
  constructor(
    readonly kind: ControlErrorKind,
    message: string,
    /** The cause in a few words, for a caller that writes its own sentence around it. */
    readonly detail: string = message,
  ) {
    super(message);
    this.name = "ControlError";
  }
}

/**
 * Before connecting: the runtime dir and the socket path must be what a supervisor makes (a
 * real directory, a socket in it), and a path this uid cannot even look into is "permission
 * denied", not "no server". A symlink is never followed: a supervisor refuses to run in one,
 * so whatever answers through it is not one.
 */
function checkPaths(runtimeDir: string, path: string, cmd: string): void {
  const me = getuid();
  const dir = lstatFor(runtimeDir, path, () => `cannot look into a directory above the runtime dir ${runtimeDir}; you are uid ${me}: ${runAs(null, cmd)}`);
  if (dir.isSymbolicLink()) {
    throw new ControlError(
      "unsafe",
      `runtime dir ${runtimeDir} is a symbolic link (to ${linkTarget(runtimeDir)}): a liveframe server never runs in one, so whatever answers there is not one to obey; pass the real directory with --runtime-dir`,
    );
  }
  if (!dir.isDirectory()) {
    const detail = `the runtime dir ${runtimeDir} is not a directory`;
    throw new ControlError("not-running", `no liveframe supervisor answers at ${path}: ${detail}`, detail);
  }
  const sock = lstatFor(path, path, () =>
    `the runtime dir ${runtimeDir} belongs to uid ${dir.uid} (mode 0${(dir.mode & 0o7777).toString(8)}) and only its owner may enter it; you are uid ${me}: ${runAs(dir.uid, cmd)}`,
  );
  if (sock.isSymbolicLink()) {
    throw new ControlError(
      "unsafe",
      `control socket path ${path} is a symbolic link (to ${linkTarget(path)}), not a socket: a liveframe supervisor never makes one, so something else may be trying to answer in its place; remove the link, then start the server again if it is not running`,
    );
  }
  if (!sock.isSocket()) {
    throw new ControlError("unsafe", `control socket path ${path} is not a socket (a ${sock.isDirectory() ? "directory" : "file"}): no liveframe supervisor answers there; move it away`);
  }
  // The supervisor made the socket as its own uid, and drops any other peer but root unanswered.
  if (sock.uid !== me && me !== 0) throw notYours(path, sock.uid, cmd);
}

function notYours(path: string, uid: number, cmd: string, pid?: number): ControlError {
  return new ControlError(
    "denied",
    `permission denied: the supervisor at ${path}${pid ? ` (pid ${pid})` : ""} runs as uid ${uid} and answers only uid ${uid} or root; you are uid ${getuid()}: ${runAs(uid, cmd)}`,
  );
}

/** lstat for checkPaths: ENOENT is "no server", EACCES "permission denied" with `denied()`'s reason. */
function lstatFor(p: string, socketPath: string, denied: () => string): Stats {
  try {
    return lstatSync(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "";
    if (code === "ENOENT" || code === "ENOTDIR") {
      const detail = p === socketPath ? `no control socket at ${socketPath}` : `no runtime dir ${p}`;
      throw new ControlError("not-running", `no liveframe supervisor answers at ${socketPath} (ENOENT): start one with \`liveframe start\``, detail);
    }
    if (code === "EACCES" || code === "EPERM") throw new ControlError("denied", `permission denied (${code}): ${denied()}`);
    throw new ControlError("failed", `cannot look at ${p}: ${(e as Error).message}`);
  }
}

/** What to do when another uid runs the server. */
function runAs(uid: number | null, cmd?: string): string {
  const c = `liveframe ${cmd ?? "<command>"}`;
  if (uid === null) return `run \`${c}\` as the user that started the server, or as root`;
  return `run \`${c}\` as uid ${uid} (e.g. sudo -u '#${uid}' ${c}) or as root`;
}

function ownerOf(p: string): number | null {
  try {
    return lstatSync(p).uid;
  } catch {
    return null;
  }
}

function linkTarget(p: string): string {
  try {
    return readlinkSync(p);
  } catch {
    return "?";
  }
}

/** Why a supervisor that accepted the connection may not answer, from what /proc says about it. */
function silenceHint(pid: number | undefined, cmd: string): string {
  // The request is in the socket's buffer: a supervisor that resumes still acts on it.
  const pending = cmd === "status" ? "" : ` (the ${cmd} request was delivered: it takes effect if the supervisor resumes)`;
  return silenceCause(pid, cmd) + pending;
}

function silenceCause(pid: number | undefined, cmd: string): string {
  if (pid === undefined) return ": is it stopped (kill -CONT) or overloaded?";
  let state = "";
  try {
    // /proc/P/stat: "pid (comm) S …"; comm may hold spaces and parentheses, the state follows the last ")".
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    state = stat.slice(stat.lastIndexOf(")") + 2).charAt(0);
  } catch {
    return `: the supervisor pid ${pid} has gone meanwhile; check \`liveframe status\``;
  }
  if (state === "T" || state === "t") {
    return `: the supervisor pid ${pid} is stopped (state ${state}): resume it with \`kill -CONT ${pid}\``;
  }
  const more = cmd === "stop" ? ", still draining (raise --timeout)" : "";
  return `: the supervisor pid ${pid} does not answer: is it stopped (kill -CONT ${pid}) or overloaded${more}?`;
}
