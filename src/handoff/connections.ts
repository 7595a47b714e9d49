// Moving live connections between generations, both sides. The old owner sends each released
// connection's fd with the bytes it had read but not consumed, in batches of at most 253
// (SCM_MAX_FD); the new owner adopts them and confirms each batch; only then does the old
// owner drop its copies (close, never terminate: no FIN, no RST reaches the client).
import { close, MAX_FDS_PER_MESSAGE } from "../../ffi/index.ts";
import type { HttpServer, ReleasedConnection } from "../http/index.ts";
import type { PeerMessage } from "./messages.ts";

type Send = (message: PeerMessage, fds: readonly number[]) => void;

/** Old side: batches released connections and settles them when the peer answers. */
export class ConnectionSender {
  private queued: ReleasedConnection[] = [];
  private readonly inFlight = new Map<number, ReleasedConnection[]>();
  private nextBatch = 0;
  private flushScheduled = false;
  private broken = false;
  /** fds the peer could not adopt once: not offered again. */
  private readonly refused = new Set<number>();
  moved = 0;
  failed = 0;

  constructor(private readonly send: Send) {}

  /** No batch queued or waiting for the peer's answer. */
  get settled(): boolean {
    return this.queued.length === 0 && this.inFlight.size === 0;
  }

  /** Queues one connection; batches go out on the next tick, or at once when full. */
  add(c: ReleasedConnection): void {
    if (this.broken || this.refused.delete(c.fd)) {
      // Nobody to hand it to, and keep() would only release it again: let it go. We hold the
      // last reference, so the client sees a FIN at a request boundary (never a cut request).
      this.failed++;
      c.handedOver();
      return;
    }
    this.queued.push(c);
    if (this.queued.length >= MAX_FDS_PER_MESSAGE) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.flushScheduled = false;
    while (this.queued.length > 0 && !this.broken) {
      const batch = this.queued.splice(0, MAX_FDS_PER_MESSAGE);
      const id = this.nextBatch++;
      try {
        this.send(
          {
            type: "connections",
            batch: id,
            items: batch.map((c) => ({ buffered: Buffer.from(c.buffered).toString("base64"), remote: c.remote })),
          },
          batch.map((c) => c.fd),
        );
        this.inFlight.set(id, batch);
      } catch (err) {
        console.error(`liveframe: handing ${batch.length} connections over failed: ${(err as Error).message}`);
        this.queued.unshift(...batch);
        this.abandon();
      }
    }
  }

  /** The peer's answer to one batch. */
  onAdopted(batch: number, failedIndices: readonly number[]): void {
    const conns = this.inFlight.get(batch);
    if (!conns) return;
    this.inFlight.delete(batch);
    const failed = new Set(failedIndices);
    conns.forEach((c, i) => {
      if (failed.has(i)) {
        // Serve it here; if it comes back (idle again) and fails twice, let it go with a FIN
        // rather than bounce it between the two generations forever.
        this.failed++;
        this.refused.add(c.fd);
        c.keep();
      } else {
        this.moved++;
        c.handedOver();
      }
    });
  }

  /**
   * The peer is gone. Whatever it adopted lives on in its copies, if it still runs; whatever
   * it did not, we hold the last reference to: dropping ours closes it with a FIN at a request
   * boundary. (keep() would hand it straight back to the release callback, in a loop.)
   */
  abandon(): void {
    this.broken = true;
    const left = [...this.queued];
    for (const conns of this.inFlight.values()) left.push(...conns);
    this.queued = [];
    this.inFlight.clear();
    this.failed += left.length;
    for (const c of left) c.handedOver();
  }
}

/** New side: adopts one batch into `server`; returns the indices it could not adopt. */
export function adoptBatch(
  server: HttpServer,
  message: Extract<PeerMessage, { type: "connections" }>,
  fds: readonly number[],
): number[] {
  const failed: number[] = [];
  fds.forEach((fd, i) => {
    const item = message.items[i];
    try {
      if (!item) throw new Error("no metadata for this fd");
      const buffered = item.buffered.length > 0 ? new Uint8Array(Buffer.from(item.buffered, "base64")) : undefined;
      server.adopt(fd, buffered);
    } catch (err) {
      console.error(`liveframe: adopting a connection from ${item?.remote.address}:${item?.remote.port} failed: ${(err as Error).message}`);
      failed.push(i);
      // The old owner still holds its copy and keeps serving it; ours goes without a FIN.
      try {
        close(fd);
      } catch {
        // already closed by the failed adopt
      }
    }
  });
  return failed;
}
