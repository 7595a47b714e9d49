// The CLI side of the control socket: one request, one response.
import { readFileSync } from "node:fs";
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
 * supervisor has stopped its generations. Throws when no supervisor answers (message
 * names ENOENT / ECONNREFUSED) or the answer is not a liveframe answer.
 */
export async function sendControl(
  runtimeDir: string,
  req: ControlRequest,
  o: ControlOptions = {},
): Promise<ReloadOutcome | StatusReport | StopResult> {
  const path = controlSocketPath(runtimeDir);
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
      throw new Error(`no liveframe supervisor answers at ${path} (${code}): start one with \`liveframe start\``);
    }
    if (code === "EACCES") {
      throw new Error(`permission denied on ${path} (EACCES): run this as the user that started the server`);
    }
    throw new Error(`cannot reach the supervisor at ${path}: ${(err as Error).message}`);
  }
  // Who listens, known at connect time even when that process is frozen: named in a timeout.
  let supervisorPid: number | undefined;
  try {
    supervisorPid = peerCred((socket as unknown as { fd: number }).fd).pid || undefined;
  } catch {
    // not a unix socket we can ask: the timeout message then names no pid
  }
  socket.write(JSON.stringify(req) + "\n");
  const limit =
    req.cmd === "reload"
      ? (req.timeoutMs ?? o.timeoutMs ?? 86_400_000) + RELOAD_DRAIN_ALLOWANCE_MS // no timeoutMs: the server's ready timeout, which the caller passes
      : (o.timeoutMs ?? (req.cmd === "status" ? DEFAULT_STATUS_TIMEOUT_MS : DEFAULT_STOP_TIMEOUT_MS));
  const timer = setTimeout(
    () => answer.reject(new Error(`the supervisor at ${path} did not answer ${req.cmd} within ${limit / 1000} s (timed out)${silenceHint(supervisorPid, req.cmd)}`)),
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
