// One generation as the supervisor sees it: a child process, its channel, what it said last.
// It is spawned before it is needed (a standby: liveframe's runtime imported, no app yet) and
// becomes a generation when the supervisor sends it a boot config (boot()).
import type { Subprocess } from "bun";
import { close, libc } from "../../ffi/index.ts";
import {
  Channel,
  channelPair,
  generationMessageSchema,
  type ChannelEnds,
  type ConnectionCounts,
  type GenerationMessage,
  type SupervisorMessage,
  type BootConfig,
} from "../handoff/index.ts";

const GENERATION_MAIN = new URL("../generation/main.ts", import.meta.url).pathname;
/** Enough of a failed generation's stderr to show its error, not a whole log. */
const STDERR_TAIL_BYTES = 4096;
/** How long after a generation's exit its channel may stay open for its last messages. */
const CHANNEL_AFTER_EXIT_MS = 1_000;
/** poll(2) event bits: the peer closed its end or the socket failed (it is dead or leaving). */
const POLLERR = 0x008;
const POLLHUP = 0x010;
const POLLRDHUP = 0x2000;

type MessageType = GenerationMessage["type"];
type MessageOf<T extends MessageType> = Extract<GenerationMessage, { type: T }>;

interface Waiter {
  types: readonly MessageType[];
  resolve(m: GenerationMessage): void;
  reject(e: Error): void;
}

export interface ExitInfo {
  code: number | null;
  signal: string | null;
}

export class GenerationProcess {
  readonly pid: number;
  /** 0 while it stands by; set by boot(). */
  number = 0;
  /** Its worker slot and the generation's worker count (boot config); named only when workers > 1. */
  worker = 0;
  workers = 1;
  /** It has imported liveframe's runtime and waits for its boot config. */
  standingBy = false;
  /** Process start → runtime imported, as the process measured it. */
  runtimeMs: number | null = null;
  /** Its `ready` report: boot config received → ready, and the app's import within that. */
  readyReport: { bootMs: number; appMs?: number } | null = null;
  /** It was the standby (spawned ahead of need), not spawned for this boot. */
  prestarted = false;
  /** When boot() sent the config (performance.now()). */
  bootSentAt: number | null = null;
  counts: ConnectionCounts = { open: 0, idle: 0, busy: 0, released: 0 };
  /** Connections it adopted from each generation (by number), as it reported them (`taking`, `taken`). */
  readonly adoptedFrom = new Map<number, number>();
  /** Its `given` (the end of its drain), kept: it can arrive before the supervisor lists it as draining. */
  givenReport: MessageOf<"given"> | null = null;
  /** Resolves once its channel closed: everything it sent has been read. */
  readonly channelClosed: Promise<void>;
  private resolveChannelClosed!: () => void;
  /** Generations whose handover to this one ended (`taken`). */
  readonly takenFrom = new Set<number>();
  /** Set once it exits; `exited` resolves then. */
  exit: ExitInfo | null = null;
  readonly exited: Promise<ExitInfo>;
  /** When it was spawned, then when it was booted (a standby may wait long before it serves). */
  startedAt = performance.now();
  /** The supervisor expects this exit (it asked the generation to give or stop, or killed it). */
  expectingExit = false;
  /** A graceful stop was sent on its own (a hand-back it could not make): it finishes its connections and exits. */
  stopSent = false;
  private channel: Channel<GenerationMessage, SupervisorMessage> | null = null;
  private waiters: Waiter[] = [];
  private stderrTail = "";
  private bootError: string | null = null;

  private ends: ChannelEnds | null = null;

  private constructor(
    private readonly proc: Subprocess,
    private readonly onUnexpectedMessage: (g: GenerationProcess, m: GenerationMessage) => void,
  ) {
    this.pid = proc.pid;
    this.channelClosed = new Promise((r) => (this.resolveChannelClosed = r));
    this.exited = proc.exited.then((): ExitInfo => {
      const exit: ExitInfo = { code: proc.exitCode, signal: proc.signalCode === null ? null : String(proc.signalCode) };
      this.exit = exit;
      this.failWaiters(new Error(this.describeExit()));
      // Its last messages may still be unread (the exit can be reported first): the channel
      // closes on their EOF, which follows at once since the process is gone; bounded anyway.
      if (!this.channel) this.resolveChannelClosed();
      setTimeout(() => this.channel?.close(), CHANNEL_AFTER_EXIT_MS).unref();
      return exit;
    });
  }

  /**
   * Spawns a generation process and opens its channel; it imports liveframe's runtime and then
   * waits for boot(). `env` is the supervisor's (LIVEFRAME_GENERATION is set at boot).
   */
  static async spawn(o: {
    runtimeDir: string;
    env: Record<string, string | undefined>;
    onMessage: (g: GenerationProcess, m: GenerationMessage) => void;
  }): Promise<GenerationProcess> {
    const [ours, theirs] = channelPair();
    let proc: Subprocess;
    const env: Record<string, string | undefined> = {
      ...o.env,
      LIVEFRAME_RUNTIME_DIR: o.runtimeDir,
      LIVEFRAME_SUPERVISOR_PID: String(process.pid),
    };
    // Which generation it becomes is known only at boot (main.ts sets it then).
    delete env.LIVEFRAME_GENERATION;
    delete env.LIVEFRAME_WORKER;
    delete env.LIVEFRAME_WORKERS;
    try {
      proc = Bun.spawn([process.execPath, GENERATION_MAIN], {
        // Bun places extra stdio entries at fd 3, 4 in the child (without close-on-exec).
        stdio: ["ignore", "inherit", "pipe", theirs.stream, theirs.fds] as never,
        env,
      });
    } catch (err) {
      for (const fd of [ours.stream, ours.fds]) close(fd);
      throw new Error(`cannot start a generation process: ${(err as Error).message}`);
    } finally {
      close(theirs.stream);
      close(theirs.fds);
    }
    const g = new GenerationProcess(proc, o.onMessage);
    void g.forwardStderr(proc.stderr as ReadableStream<Uint8Array>);
    try {
      await g.connect(ours);
    } catch (err) {
      g.kill();
      throw new Error(`cannot open the channel to a generation process (pid ${g.pid}): ${(err as Error).message}`);
    }
    return g;
  }

  /**
   * Makes this process generation `config.generation`: it imports the app and reports ready.
   * False if it cannot (it died, or its channel is gone): the caller spawns another.
   */
  boot(config: BootConfig): boolean {
    if (!this.alive || this.peerHungUp()) return false;
    this.number = config.generation;
    this.worker = config.worker ?? 0;
    this.workers = config.workers ?? 1;
    this.bootSentAt = this.startedAt = performance.now();
    return this.send({ type: "boot", config });
  }

  /**
   * The process behind a standby may have died a moment ago (kill -9) without its exit having
   * been reported yet; its end of the channel is closed by the kernel at once, so ask poll(2).
   */
  private peerHungUp(): boolean {
    if (!this.ends || !this.channel?.isOpen) return true;
    const pfd = new DataView(new ArrayBuffer(8));
    pfd.setInt32(0, this.ends.stream, true);
    pfd.setInt16(4, POLLRDHUP, true);
    const n = libc.poll(new Uint8Array(pfd.buffer), 1, 0);
    return n > 0 && (pfd.getInt16(6, true) & (POLLHUP | POLLRDHUP | POLLERR)) !== 0;
  }

  get alive(): boolean {
    return this.exit === null;
  }

  /** Sends a message (with fds, which stay ours to close). False if the channel is gone. */
  send(m: SupervisorMessage, fds: readonly number[] = []): boolean {
    if (!this.channel?.isOpen) return false;
    try {
      this.channel.send(m, fds);
      return true;
    } catch (err) {
      console.error(`liveframe: sending ${m.type} to ${this.name} failed: ${(err as Error).message}`);
      return false;
    }
  }

  /**
   * Resolves with the next message of `type`. Rejects with the cause if the generation fails
   * to boot, exits, or says nothing within `timeoutMs` (`what` names the wait in the error).
   */
  waitFor<T extends MessageType>(type: T, timeoutMs: number, what: string): Promise<MessageOf<T>> {
    return this.waitForAny([type], timeoutMs, what);
  }

  /** Like waitFor, for the first message of any of `types`. */
  waitForAny<T extends MessageType>(types: readonly T[], timeoutMs: number, what: string): Promise<MessageOf<T>> {
    if (this.exit) return Promise.reject(new Error(this.describeExit()));
    if (this.bootError) return Promise.reject(new Error(this.bootError));
    return new Promise<MessageOf<T>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`${this.name} was not ${what} within ${fmtSeconds(timeoutMs)}`));
      }, timeoutMs);
      const waiter: Waiter = {
        types,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m as MessageOf<T>);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.waiters.push(waiter);
    });
  }

  /** SIGKILL: for a generation that failed or lingers past its bound. */
  kill(): void {
    this.expectingExit = true;
    if (this.alive) this.proc.kill(9);
  }

  /** "generation 3 (pid 123)", "generation 3 worker 1 (pid 123)" with --workers, or "the standby process (pid 123)" before boot. */
  get name(): string {
    const worker = this.workers > 1 ? ` worker ${this.worker}` : "";
    return this.number > 0 ? `generation ${this.number}${worker} (pid ${this.pid})` : `the standby process (pid ${this.pid})`;
  }

  describeExit(): string {
    const e = this.exit;
    const how = !e ? "is running" : e.signal ? `was killed by ${e.signal}` : `exited with code ${e.code}`;
    const tail = this.stderrTail.trim();
    return `${this.name} ${how}${tail && !this.bootError ? `; its last error output:\n${indent(tail)}` : ""}`;
  }

  private async connect(ends: ChannelEnds): Promise<void> {
    this.ends = ends;
    this.channel = await Channel.open<GenerationMessage, SupervisorMessage>(
      ends,
      generationMessageSchema,
      `generation process (pid ${this.pid})`,
      {
        message: (m, fds) => {
          for (const fd of fds) close(fd); // generations never send fds to the supervisor
          this.onMessage(m);
        },
        close: (error) => {
          this.resolveChannelClosed();
          if (error) {
            console.error(`liveframe: ${error.message}; stopping ${this.name}`);
            this.kill();
          }
        },
      },
    );
  }

  private onMessage(m: GenerationMessage): void {
    if (m.type === "counts") {
      this.counts = m.counts;
      return;
    }
    if (m.type === "standing-by") {
      this.standingBy = true;
      this.runtimeMs = m.runtimeMs;
      return;
    }
    if (m.type === "given") this.givenReport = m;
    if (m.type === "taking" || m.type === "taken") {
      this.adoptedFrom.set(m.from ?? 0, m.connectionsAdopted);
      if (m.type === "taking") return;
      this.takenFrom.add(m.from ?? 0);
    }
    if (m.type === "boot-failed") {
      this.bootError = m.error;
      this.failWaiters(new Error(m.error));
      return;
    }
    const i = this.waiters.findIndex((w) => w.types.includes(m.type));
    if (i >= 0) {
      const [w] = this.waiters.splice(i, 1);
      w!.resolve(m);
      return;
    }
    this.onUnexpectedMessage(this, m);
  }

  private failWaiters(e: Error): void {
    for (const w of this.waiters.splice(0)) w.reject(e);
  }

  private async forwardStderr(stream: ReadableStream<Uint8Array>): Promise<void> {
    const dec = new TextDecoder();
    try {
      for await (const chunk of stream) {
        process.stderr.write(chunk);
        this.stderrTail = (this.stderrTail + dec.decode(chunk, { stream: true })).slice(-STDERR_TAIL_BYTES);
      }
    } catch {
      // the generation is gone
    }
  }
}

export function fmtSeconds(ms: number): string {
  const s = ms / 1000;
  return `${Number.isInteger(s) ? s : s.toFixed(1)} s`;
}

function indent(text: string): string {
  return text
    .split("\n")
    .map((l) => `    ${l}`)
    .join("\n");
}
