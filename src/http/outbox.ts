// Response bytes on their way to the kernel. Bun's socket.write is unbuffered: it returns how
// much the kernel took, and the rest is ours to keep and retry on `drain` (backpressure). While a
// batch of pipelined requests is answered, string writes are corked and leave in one syscall.
import type { Socket } from "bun";
import { MAX_UNSENT_RESPONSE_BYTES } from "./limits.ts";

/** Head + byte body up to this size are assembled in one reused buffer and leave in one write. */
const SCRATCH_BYTES = 64 * 1024;
const scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
const latin1Write = (scratch as unknown as { latin1Write(s: string, at: number): number }).latin1Write;

export class Outbox {
  /** Bytes the kernel has not accepted yet, oldest first. */
  private queue: Uint8Array[] = [];
  private cork = "";
  private corkBytes = 0;
  /** While true, string writes collect in the cork until flushCork(). */
  corking = false;
  private drainWaiter: (() => void) | null = null;

  constructor(private readonly socket: Socket<any>) {}

  /** Some bytes wait for the kernel (the connection is not flushed). */
  get pending(): boolean {
    return this.queue.length > 0;
  }

  /** Every byte written so far reached the kernel: nothing queued, nothing corked. */
  get flushed(): boolean {
    return this.queue.length === 0 && this.corkBytes === 0;
  }

  /** Writes now (or corks), queueing what the kernel does not take. `bytes` = encoded length of data. */
  write(data: string | Uint8Array, bytes: number): void {
    if (this.corking && typeof data === "string" && this.queue.length === 0) {
      this.cork += data;
      this.corkBytes += bytes;
      // Bounded: past the limit the batch goes to the kernel, and what it does not take makes
      // the connection stop answering pipelined requests until it drains (see `pending`).
      if (this.corkBytes >= MAX_UNSENT_RESPONSE_BYTES) this.flushCork();
      return;
    }
    if (this.corkBytes > 0) this.flushCork();
    this.send(data, bytes);
  }

  /** An ASCII head and a byte body, in one write without allocating when they fit the scratch buffer. */
  writeHeadAndBody(head: string, body: Uint8Array): void {
    const total = head.length + body.byteLength;
    if (total > SCRATCH_BYTES) {
      this.write(head, head.length);
      this.write(body, body.byteLength);
      return;
    }
    if (this.corkBytes > 0) this.flushCork();
    latin1Write.call(scratch, head, 0);
    scratch.set(body, head.length);
    if (this.queue.length > 0) {
      this.queue.push(Buffer.from(scratch.subarray(0, total)));
      return;
    }
    const n = this.socket.write(scratch, 0, total);
    // scratch is reused: whatever the kernel did not take must be copied out.
    if (n >= 0 && n < total) this.queue.push(Buffer.from(scratch.subarray(n, total)));
  }

  flushCork(): void {
    const bytes = this.corkBytes;
    if (bytes === 0) return;
    const data = this.cork;
    this.cork = "";
    this.corkBytes = 0;
    this.send(data, bytes);
  }

  private send(data: string | Uint8Array, bytes: number): void {
    if (this.queue.length > 0) {
      this.queue.push(typeof data === "string" ? Buffer.from(data) : data);
      return;
    }
    const n = this.socket.write(data);
    if (n < 0 || n >= bytes) return; // n < 0: closed underneath us; the close handler cleans up
    this.queue.push((typeof data === "string" ? Buffer.from(data) : data).subarray(n));
  }

  /** On `drain`: writes what is queued. True when everything has reached the kernel. */
  drain(): boolean {
    const q = this.queue;
    while (q.length > 0) {
      const chunk = q[0]!;
      const n = this.socket.write(chunk);
      if (n < 0) return false;
      if (n < chunk.byteLength) {
        q[0] = chunk.subarray(n);
        return false;
      }
      q.shift();
    }
    this.wake();
    return true;
  }

  /** Resolves once the queue is empty (or the connection is gone: see wake). */
  whenDrained(): Promise<void> {
    return new Promise<void>((resolve) => (this.drainWaiter = resolve));
  }

  /** Wakes whoever waits for a drain (also on close, so a streaming writer can notice and stop). */
  wake(): void {
    const w = this.drainWaiter;
    this.drainWaiter = null;
    if (w !== null) w();
  }

  /** Drops everything not yet written (the connection is being cut). */
  discard(): void {
    this.queue.length = 0;
    this.cork = "";
    this.corkBytes = 0;
  }
}
