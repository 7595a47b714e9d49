// Helpers for the CLI's end-to-end tests and bench/dev: run the real `liveframe` binary and
// talk HTTP/1.1 over ONE keep-alive connection, so a test can tell "same connection" from
// "a new one" (fetch's pool would hide that).
import type { Socket } from "bun";

export const BIN = new URL("../bin/liveframe.ts", import.meta.url).pathname;

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** One TCP connection, requests sent one at a time, responses parsed (Content-Length or chunked). */
export class KeepAliveClient {
  #socket!: Socket<undefined>;
  #buffer = new Uint8Array(0);
  #waiter: (() => void) | undefined;
  /** Set when the server closed the connection (FIN or RST). */
  closed = false;
  closeReason = "";

  static async connect(port: number, hostname = "127.0.0.1"): Promise<KeepAliveClient> {
    const c = new KeepAliveClient();
    c.#socket = await Bun.connect({
      hostname,
      port,
      socket: {
        data: (_s, d) => {
          const next = new Uint8Array(c.#buffer.byteLength + d.byteLength);
          next.set(c.#buffer);
          next.set(d, c.#buffer.byteLength);
          c.#buffer = next;
          c.#waiter?.();
        },
        close: () => {
          c.closed = true;
          c.closeReason ||= "closed by the server";
          c.#waiter?.();
        },
        error: (_s, e) => {
          c.closed = true;
          c.closeReason = `error: ${e.message}`;
          c.#waiter?.();
        },
      },
    });
    return c;
  }

  /** The client's local port: the same value across requests means the same connection. */
  get localPort(): number {
    return (this.#socket as unknown as { localPort: number }).localPort;
  }

  async get(path: string, timeoutMs = 10_000): Promise<HttpResponse> {
    if (this.closed) throw new Error(`connection already closed (${this.closeReason})`);
    this.#socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n`);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const parsed = this.#parse();
      if (parsed) return parsed;
      if (this.closed) throw new Error(`connection closed before a full response (${this.closeReason})`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no full response to GET ${path} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.#waiter = undefined;
    }
  }

  #parse(): HttpResponse | undefined {
    const text = new TextDecoder("latin1").decode(this.#buffer);
    const headEnd = text.indexOf("\r\n\r\n");
    if (headEnd < 0) return undefined;
    const [statusLine, ...lines] = text.slice(0, headEnd).split("\r\n");
    const headers: Record<string, string> = {};
    for (const l of lines) {
      const i = l.indexOf(":");
      headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    const status = Number(statusLine!.split(" ")[1]);
    let rest = this.#buffer.subarray(headEnd + 4);
    let body: Uint8Array;
    let consumed: number;
    if (headers["transfer-encoding"]?.includes("chunked")) {
      const parts: Uint8Array[] = [];
      let off = 0;
      for (;;) {
        const chunkText = new TextDecoder("latin1").decode(rest.subarray(off, off + 32));
        const nl = chunkText.indexOf("\r\n");
        if (nl < 0) return undefined;
        const size = parseInt(chunkText.slice(0, nl), 16);
        if (rest.byteLength < off + nl + 2 + size + 2) return undefined;
        if (size === 0) {
          off += nl + 4;
          break;
        }
        parts.push(rest.subarray(off + nl + 2, off + nl + 2 + size));
        off += nl + 2 + size + 2;
      }
      body = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
      let at = 0;
      for (const p of parts) {
        body.set(p, at);
        at += p.byteLength;
      }
      consumed = off;
    } else {
      const length = Number(headers["content-length"] ?? 0);
      if (rest.byteLength < length) return undefined;
      body = rest.subarray(0, length);
      consumed = length;
    }
    rest = rest.subarray(consumed);
    this.#buffer = rest.slice();
    return { status, headers, body: new TextDecoder().decode(body) };
  }

  close(): void {
    this.#socket.end();
  }
}

export interface CliProcess {
  readonly proc: ReturnType<typeof Bun.spawn>;
  /** Everything printed so far, stdout and stderr interleaved as it arrived. */
  output(): string;
  /** Waits until the output (from `from` on) matches; returns the match. */
  waitFor(pattern: RegExp, timeoutMs?: number, from?: number): Promise<RegExpMatchArray>;
  /** Length of the output now: pass to waitFor to look only at what comes next. */
  mark(): number;
  kill(signal?: number | NodeJS.Signals): void;
  /** SIGKILL, then waits for the exit: the cleanup of every test that spawned it. */
  killAndWait(): Promise<void>;
}

/** Spawns `bun bin/liveframe.ts ...args`, collecting its output. */
export function spawnCli(args: string[], opts: { cwd: string; env?: Record<string, string | undefined> }): CliProcess {
  const { FORCE_COLOR: _f, ...inherited } = process.env;
  const proc = Bun.spawn([process.execPath, BIN, ...args], {
    cwd: opts.cwd,
    env: { ...inherited, NO_COLOR: "1", ...opts.env } as Record<string, string>,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let text = "";
  const waiters = new Set<() => void>();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      text += decoder.decode(chunk, { stream: true });
      for (const w of waiters) w();
    }
  };
  void pump(proc.stdout as ReadableStream<Uint8Array>);
  void pump(proc.stderr as ReadableStream<Uint8Array>);
  void proc.exited.then(() => {
    for (const w of waiters) w();
  });
  return {
    proc,
    output: () => text,
    mark: () => text.length,
    kill: (signal = "SIGKILL") => proc.kill(signal),
    async killAndWait() {
      proc.kill("SIGKILL");
      await proc.exited;
    },
    async waitFor(pattern, timeoutMs = 30_000, from = 0) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const m = text.slice(from).match(pattern);
        if (m) return m;
        if (proc.exitCode !== null || proc.signalCode !== null) {
          // Let the pipes flush what the process wrote last, then look once more.
          await Bun.sleep(50);
          const late = text.slice(from).match(pattern);
          if (late) return late;
          throw new Error(`liveframe exited (${proc.exitCode ?? proc.signalCode}) before printing ${pattern}; output:\n${text}`);
        }
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`liveframe did not print ${pattern} within ${timeoutMs} ms; output:\n${text}`);
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(t);
            waiters.delete(done);
            resolve();
          };
          const t = setTimeout(done, Math.min(left, 500));
          waiters.add(done);
        });
      }
    },
  };
}

/** The port from the "listening on http://HOST:PORT" line `start` and `dev` print. */
export const LISTENING = /listening on http:\/\/\S+:(\d+)/;
