// Moving live connections between generations, both sides. The old owner sends each released
// connection's fd with the bytes it had read but not consumed, in batches of at most 253
// (SCM_MAX_FD); the new owner adopts them and confirms each batch; only then does the old
// owner drop its copies (close, never terminate: no FIN, no RST reaches the client).
import { close, MAX_FDS_PER_MESSAGE, SysError } from "../../ffi/index.ts";
import type { HttpServer, ReleasedConnection } from "../http/index.ts";
import { MAX_FRAME_BYTES, type PeerMessage } from "./messages.ts";

type Send = (message: PeerMessage, fds: readonly number[]) => void;
type ConnectionsMessage = Extract<PeerMessage, { type: "connections" }>;
type Item = ConnectionsMessage["items"][number];

/**
 * Most bytes of encoded items in one batch frame. The receiver drops a channel whose frame
 * passes MAX_FRAME_BYTES (and every connection on it); half of that leaves room for the JSON
 * around the items, so a batch of 253 connections with full read buffers goes in several frames.
 */
export const BATCH_BUDGET_BYTES = MAX_FRAME_BYTES / 2;
/** JSON around one item besides its base64 and address: keys, quotes, the port. */
const ITEM_OVERHEAD_BYTES = 64;

export interface ConnectionSenderOptions {
  /** Most encoded bytes per batch (default BATCH_BUDGET_BYTES); a lone larger item still goes alone. */
  batchBudgetBytes?: number;
}

/** Old side: batches released connections and settles them when the peer answers. */
export class ConnectionSender {
  private queued: ReleasedConnection[] = [];
  private readonly inFlight = new Map<number, ReleasedConnection[]>();
  private nextBatch = 0;
  private flushScheduled = false;
  private broken = false;
  private readonly budget: number;
  /** fds the peer could not adopt once: not offered again. */
  private readonly refused = new Set<number>();
  moved = 0;
  failed = 0;
  /** Closed by the client while queued (a reset, say): nothing left to hand over. */
  gone = 0;
  /** Unconfirmed when the peer went away: kept and served here (see abandon). */
  kept = 0;

  constructor(
    private readonly send: Send,
    options: ConnectionSenderOptions = {},
  ) {
    this.budget = options.batchBudgetBytes ?? BATCH_BUDGET_BYTES;
  }

  /** No batch queued or waiting for the peer's answer. */
  get settled(): boolean {
    return this.queued.length === 0 && this.inFlight.size === 0;
  }

  /** Queues one connection; batches go out on the next tick, or at once when full. */
  add(c: ReleasedConnection): void {
    if (this.broken) {
      // Nobody to hand it to: it stays here and is served here.
      this.kept++;
      c.keep();
      return;
    }
    if (this.refused.delete(c.fd)) {
      // Refused twice by this peer, and keep() would only release it again: let it go. We hold
      // the last reference, so the client sees a FIN at a request boundary (never a cut request).
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
      const { batch, items } = this.takeBatch();
      if (batch.length > 0) this.sendBatch(batch, items);
    }
  }

  /**
   * The next batch off the queue: at most 253 connections and `budget` encoded bytes (at least
   * one connection). Connections that closed while queued are dropped here: Bun closed their fd,
   * and its number may already name another file.
   */
  private takeBatch(): { batch: ReleasedConnection[]; items: Item[] } {
    const batch: ReleasedConnection[] = [];
    const items: Item[] = [];
    let bytes = 0;
    while (this.queued.length > 0 && batch.length < MAX_FDS_PER_MESSAGE) {
      const c = this.queued[0]!;
      if (c.closed) {
        this.queued.shift();
        this.gone++;
        continue;
      }
      const websocket = c.websocket;
      const item: Item = { buffered: Buffer.from(c.buffered).toString("base64"), remote: c.remote, ...(websocket ? { websocket } : {}) };
      const size = item.buffered.length + item.remote.address.length + ITEM_OVERHEAD_BYTES + (websocket ? JSON.stringify(websocket).length : 0);
      if (batch.length > 0 && bytes + size > this.budget) break;
      this.queued.shift();
      bytes += size;
      batch.push(c);
      items.push(item);
    }
    return { batch, items };
  }

  private sendBatch(batch: ReleasedConnection[], items: Item[], retry = true): void {
    const id = this.nextBatch++;
    try {
      this.send({ type: "connections", batch: id, items }, batch.map((c) => c.fd));
      this.inFlight.set(id, batch);
      return;
    } catch (err) {
      if (!(err instanceof SysError && err.code === "EBADF")) {
        // The channel itself failed: nothing more can go over it.
        console.error(
          `liveframe: handing ${batch.length} connections over failed: ${(err as Error).message}; ` +
            `the channel is unusable, so these and every later one stay here and are served here`,
        );
        this.queued.unshift(...batch);
        this.abandon();
        return;
      }
      // One of the fds is not open (a client reset its connection and Bun closed it): that
      // dooms neither the channel nor the others. Drop the closed ones and try once more.
      const open = batch.map((c, i) => ({ c, item: items[i]! })).filter(({ c }) => {
        if (c.closed) this.gone++;
        return !c.closed;
      });
      if (retry && open.length > 0) {
        this.sendBatch(
          open.map((o) => o.c),
          open.map((o) => o.item),
          false,
        );
        return;
      }
      if (open.length === 0) return;
      // Still a bad fd we cannot name: serve these here; each is offered again after its next request.
      console.error(
        `liveframe: handing ${open.length} connections over failed: ${(err as Error).message}; ` +
          `they stay in this process and are offered again after their next request`,
      );
      this.failed += open.length;
      for (const { c } of open) c.keep();
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
   * The peer is gone (it died, or the channel broke). Whatever it confirmed is its own now;
   * whatever it did not confirm, this process still holds (its copy is dropped only on the
   * peer's confirmation): serve it here, never close it because the peer died. A peer that
   * died took its copies with it; a peer that could not receive a batch never had them.
   */
  abandon(): void {
    if (this.broken) return;
    this.broken = true;
    const left = [...this.queued];
    for (const conns of this.inFlight.values()) left.push(...conns);
    this.queued = [];
    this.inFlight.clear();
    for (const c of left) {
      if (c.closed) {
        this.gone++;
        continue;
      }
      this.kept++;
      c.keep();
    }
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
      server.adopt(fd, buffered, item.websocket);
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
