// Raw-socket client for the engine's end-to-end tests: writes exact bytes, reads responses off
// the wire, and notices EOF and resets (which fetch() would hide).
import type { Socket } from "bun";

export interface WireResponse {
  status: number;
  reason: string;
  headers: Record<string, string>;
  body: Buffer;
}

export class RawClient {
  private chunks: Buffer[] = [];
  private pending: Uint8Array[] = [];
  private waiters: (() => void)[] = [];
  ended = false;
  closed = false;
  error: Error | null = null;
  private constructor(readonly socket: Socket<RawClient>) {}

  static async connect(port: number, hostname = "127.0.0.1"): Promise<RawClient> {
    let client!: RawClient;
    const socket = await Bun.connect<RawClient>({
      hostname,
      port,
      allowHalfOpen: true,
      socket: {
        open(s: Socket<RawClient>) {
          client = new RawClient(s);
          s.data = client;
        },
        data(s: Socket<RawClient>, d: Buffer) {
          s.data.chunks.push(Buffer.from(d));
          s.data.wake();
        },
        drain(s: Socket<RawClient>) {
          s.data.onDrain();
        },
        end(s: Socket<RawClient>) {
          s.data.ended = true;
          s.data.wake();
        },
        close(s: Socket<RawClient>) {
          s.data.closed = true;
          s.data.wake();
        },
        error(s: Socket<RawClient>, e: Error) {
          s.data.error = e;
          s.data.wake();
        },
      },
    } as any);
    return client ?? (socket.data as RawClient);
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Everything received and not yet taken. */
  get received(): Buffer {
    if (this.chunks.length !== 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]!;
  }

  private take(n: number): Buffer {
    const all = this.received;
    this.chunks = [all.subarray(n)];
    return all.subarray(0, n);
  }

  /** Writes without blocking: what the kernel does not take now is sent on drain, in order. */
  write(data: string | Uint8Array): void {
    const bytes = typeof data === "string" ? Buffer.from(data, "latin1") : data;
    if (this.pending.length > 0) {
      this.pending.push(bytes);
      return;
    }
    const n = this.socket.write(bytes);
    if (n < 0) throw new Error("write on a closed socket");
    if (n < bytes.length) this.pending.push(bytes.subarray(n));
  }

  /** Resolves when everything written so far has reached the kernel. */
  async flushed(timeoutMs = 30_000): Promise<void> {
    await this.until(() => this.pending.length === 0, timeoutMs, "the client's writes to drain");
  }

  private onDrain(): void {
    while (this.pending.length > 0) {
      const chunk = this.pending[0]!;
      const n = this.socket.write(chunk);
      if (n < 0) return;
      if (n < chunk.length) {
        this.pending[0] = chunk.subarray(n);
        break;
      }
      this.pending.shift();
    }
    this.wake();
  }

  async writeSlowly(data: string, bytesPerWrite = 1): Promise<void> {
    for (let i = 0; i < data.length; i += bytesPerWrite) {
      this.write(data.slice(i, i + bytesPerWrite));
      await Bun.sleep(0);
    }
  }

  /** Waits until `ready()` holds or the peer closes; throws after timeoutMs. */
  async until(ready: () => boolean, timeoutMs = 10_000, what = "data"): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!ready()) {
      if (this.ended || this.closed || this.error) {
        if (ready()) return;
        throw new Error(`connection ended while waiting for ${what} (received ${JSON.stringify(this.received.toString("latin1").slice(0, 200))})`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Reads one response (Content-Length, chunked, or close-delimited). */
  async response(opts: { head?: boolean; timeoutMs?: number } = {}): Promise<WireResponse> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    await this.until(() => this.received.indexOf("\r\n\r\n") >= 0, timeoutMs, "a response head");
    const headEnd = this.received.indexOf("\r\n\r\n") + 4;
    const headText = this.take(headEnd).toString("latin1");
    const [statusLine, ...lines] = headText.slice(0, -4).split("\r\n");
    const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(statusLine!);
    if (!m) throw new Error(`bad status line ${JSON.stringify(statusLine)}`);
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const i = line.indexOf(":");
      headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
    }
    const status = Number(m[1]);
    let body = Buffer.alloc(0);
    if (opts.head || status === 204 || status === 304 || (status >= 100 && status < 200)) {
      // no body
    } else if (headers["transfer-encoding"] === "chunked") {
      const parts: Buffer[] = [];
      for (;;) {
        await this.until(() => this.received.indexOf("\r\n") >= 0, timeoutMs, "a chunk size");
        const line = this.take(this.received.indexOf("\r\n") + 2).toString("latin1");
        const size = parseInt(line, 16);
        if (size === 0) {
          await this.until(() => this.received.length >= 2, timeoutMs, "the last CRLF");
          this.take(2);
          break;
        }
        await this.until(() => this.received.length >= size + 2, timeoutMs, "chunk data");
        parts.push(Buffer.from(this.take(size + 2).subarray(0, size)));
      }
      body = Buffer.concat(parts);
    } else if (headers["content-length"] !== undefined) {
      const n = Number(headers["content-length"]);
      await this.until(() => this.received.length >= n, timeoutMs, `a ${n}-byte body`);
      body = Buffer.from(this.take(n));
    } else {
      await this.until(() => this.ended || this.closed, timeoutMs, "close-delimited body end").catch(() => {});
      body = Buffer.from(this.take(this.received.length));
    }
    return { status, reason: m[2]!, headers, body };
  }

  /** Resolves once the peer has closed (FIN or reset). */
  async closedByPeer(timeoutMs = 10_000): Promise<void> {
    await this.until(() => this.ended || this.closed || this.error !== null, timeoutMs, "the server to close");
  }

  close(): void {
    this.socket.end();
  }
}

export function get(path: string, extra = "", host = "t"): string {
  return `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${extra}\r\n`;
}
