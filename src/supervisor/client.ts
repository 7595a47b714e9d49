// The CLI side of the control socket: one request, one response.
import type { ControlRequest } from "../handoff/index.ts";
import { controlResponseSchema, parseMessage, reloadOutcomeSchema, statusReportSchema } from "../handoff/index.ts";
import { controlSocketPath } from "./runtime-dir.ts";
import type { ReloadOutcome, StatusReport } from "./types.ts";

/** status and stop answer within this; a reload is bounded by its own timeout (plus drain). */
const QUICK_REPLY_TIMEOUT_MS = 60_000;

export interface StopResult {
  stopped: true;
  supervisorPid: number;
}

export function sendControl(runtimeDir: string, req: { cmd: "reload"; timeoutMs: number }): Promise<ReloadOutcome>;
export function sendControl(runtimeDir: string, req: { cmd: "status" }): Promise<StatusReport>;
export function sendControl(runtimeDir: string, req: { cmd: "stop" }): Promise<StopResult>;
export function sendControl(runtimeDir: string, req: ControlRequest): Promise<ReloadOutcome | StatusReport | StopResult>;
/**
 * Sends one request to the supervisor running with `runtimeDir`. A reload resolves with its
 * outcome (ok false included: the caller decides the exit code); stop resolves once the
 * supervisor has stopped its generations. Throws when no supervisor answers (message
 * names ENOENT / ECONNREFUSED) or the answer is not a liveframe answer.
 */
export async function sendControl(runtimeDir: string, req: ControlRequest): Promise<ReloadOutcome | StatusReport | StopResult> {
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
  socket.write(JSON.stringify(req) + "\n");
  const limit = req.cmd === "reload" ? req.timeoutMs + 10 * 60_000 : QUICK_REPLY_TIMEOUT_MS;
  const timer = setTimeout(() => answer.reject(new Error(`the supervisor at ${path} did not answer ${req.cmd} within ${limit / 1000} s (timed out)`)), limit);
  let raw: string;
  try {
    raw = await answer.promise;
  } finally {
    clearTimeout(timer);
    socket.end();
  }
  if (raw.trim() === "") {
    throw new Error(`the supervisor at ${path} closed the connection without answering (was this uid refused? see its log)`);
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
