// A channel between two liveframe processes: two socketpairs that the supervisor created,
// so no one else can connect to them.
//  - `stream` (SOCK_STREAM) carries newline-delimited JSON frames. Bun reads it (Bun.connect
//    with {fd}), so frames arrive as events, with no polling.
//  - `fds` (SOCK_SEQPACKET) carries file descriptors (SCM_RIGHTS). Bun's reader would drop
//    ancillary data, so Bun never reads it: the sender queues the fds there first, then writes
//    the frame that names them; the receiver, on that frame, takes them (already queued) with
//    a non-blocking recvmsg. Each fd message's payload is the frame's sequence number, checked.
import type { Socket } from "bun";
import type { z } from "zod";
import { close, type FdReserve, SysError, MAX_FDS_PER_MESSAGE, recvFds, sendFds, SOCK_SEQPACKET, SOCK_STREAM, socketPair } from "../../ffi/index.ts";
import { MAX_FRAME_BYTES, parseMessage } from "./messages.ts";

export interface ChannelEnds {
  /** SOCK_STREAM end: JSON frames. */
  stream: number;
  /** SOCK_SEQPACKET end: fds. */
  fds: number;
}

/**
 * Makes the two socketpairs of one channel: `[a, b]`, one set of ends for each side.
 * All four fds are close-on-exec; pass one side on (spawn stdio or a frame) and close it here.
 */
export function channelPair(): [ChannelEnds, ChannelEnds] {
  const [s1, s2] = socketPair(SOCK_STREAM);
  const [f1, f2] = socketPair(SOCK_SEQPACKET);
  return [
    { stream: s1, fds: f1 },
    { stream: s2, fds: f2 },
  ];
}

export interface ChannelHandlers<In> {
  /** A validated message and the fds it carried (now owned by the handler). */
  message(message: In, fds: number[]): void;
  /** The peer closed the channel, or broke the protocol (`error` says how). Called once. */
  close(error?: Error): void;
  /**
   * A valid message arrived but the fds it carried could not be received (`error` says why:
   * usually EMFILE, this process is out of file descriptors). The fd message was consumed, so
   * the channel stays in step and open. Without this handler such a message closes the channel.
   */
  undelivered?(message: In, error: Error): void;
}

export interface ChannelOptions {
  /**
   * Spare fds lent to each receive of fds (as many as the frame announces, as far as it holds):
   * a handover's fds then arrive even when this process is at its fd limit.
   */
  reserve?: FdReserve;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const NEWLINE = 10;

interface Envelope {
  m: unknown;
  /** Number of fds queued on the fd socket for this frame. */
  f?: number;
  /** Sequence number of this frame, also the payload of its fd message. */
  s?: number;
}

export class Channel<In, Out> {
  private socket: Socket<undefined> | null = null;
  private pending: Uint8Array[] = [];
  private partial: Uint8Array[] = [];
  private partialBytes = 0;
  private seq = 0;
  private closed = false;

  private constructor(
    private readonly ends: ChannelEnds,
    private readonly schema: z.ZodType<In>,
    private readonly peer: string,
    private readonly handlers: ChannelHandlers<In>,
    private readonly options: ChannelOptions,
  ) {}

  /**
   * Opens a channel over two socketpair ends this process owns. From here on the channel
   * owns them and closes them on close().
   */
  static async open<In, Out>(
    ends: ChannelEnds,
    schema: z.ZodType<In>,
    peer: string,
    handlers: ChannelHandlers<In>,
    options: ChannelOptions = {},
  ): Promise<Channel<In, Out>> {
    const ch = new Channel<In, Out>(ends, schema, peer, handlers, options);
    try {
      ch.socket = await Channel.connect(ch, ends.stream, peer);
    } catch (err) {
      // The channel owns both ends from the call on: a channel that never opened closes them,
      // or each failed open would leak two fds. (Bun leaves the fd open when it refuses it.)
      for (const fd of [ends.stream, ends.fds]) {
        try {
          close(fd);
        } catch {
          // already closed
        }
      }
      throw new Error(`opening the channel to ${peer} failed: ${(err as Error)?.message ?? err}`, { cause: err });
    }
    return ch;
  }

  private static async connect<In, Out>(ch: Channel<In, Out>, fd: number, peer: string): Promise<Socket<undefined>> {
    return await Bun.connect({
      fd,
      socket: {
        data: (_s: Socket<undefined>, chunk: Uint8Array) => ch.onData(chunk),
        drain: () => ch.flush(),
        close: () => ch.shut(),
        error: (_s: Socket<undefined>, err: Error) => ch.shut(new Error(`channel to ${peer}: ${err.message}`)),
      },
    } as never);
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /**
   * Sends one message, with `fds` (at most 253) beside it. The fds stay open here: the
   * caller closes its copies when it no longer needs them (after the peer confirmed, for
   * connections). Throws if the channel is closed or the fds cannot be sent.
   */
  send(message: Out, fds: readonly number[] = []): void {
    if (this.closed) throw new Error(`channel to ${this.peer} is closed`);
    if (fds.length > MAX_FDS_PER_MESSAGE) throw new Error(`${fds.length} fds in one frame: batch them by ${MAX_FDS_PER_MESSAGE}`);
    const env: Envelope = { m: message };
    if (fds.length > 0) {
      const s = ++this.seq;
      env.f = fds.length;
      env.s = s;
      sendFds(this.ends.fds, fds, enc.encode(String(s)));
    }
    this.pending.push(enc.encode(JSON.stringify(env) + "\n"));
    this.flush();
  }

  /** Closes both ends. Pending output that the kernel has not taken is dropped. */
  close(): void {
    this.shut();
  }

  private flush(): void {
    const socket = this.socket;
    if (!socket) return;
    while (this.pending.length > 0) {
      const head = this.pending[0]!;
      const n = socket.write(head);
      if (n < 0) return; // closed: the close handler follows
      if (n < head.byteLength) {
        this.pending[0] = head.subarray(n);
        return; // wait for drain
      }
      this.pending.shift();
    }
  }

  private onData(chunk: Uint8Array): void {
    let start = 0;
    for (let i = chunk.indexOf(NEWLINE); i >= 0 && !this.closed; i = chunk.indexOf(NEWLINE, start)) {
      let line = chunk.subarray(start, i);
      if (this.partial.length > 0) {
        this.partial.push(line);
        line = Buffer.concat(this.partial);
        this.partial = [];
        this.partialBytes = 0;
      }
      start = i + 1;
      this.onFrame(line);
    }
    if (start < chunk.byteLength && !this.closed) {
      this.partial.push(chunk.slice(start));
      this.partialBytes += chunk.byteLength - start;
      if (this.partialBytes > MAX_FRAME_BYTES) this.shut(new Error(`frame from ${this.peer} longer than ${MAX_FRAME_BYTES} bytes`));
    }
  }

  private onFrame(line: Uint8Array): void {
    let env: Envelope;
    let message: In;
    try {
      env = JSON.parse(dec.decode(line)) as Envelope;
      if (typeof env !== "object" || env === null) throw new Error("frame is not an object");
      message = parseMessage(this.schema, env.m, this.peer);
    } catch (err) {
      this.shut(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    let fds: number[] = [];
    if (env.f !== undefined) {
      try {
        fds = this.takeFds(env.f, env.s);
      } catch (err) {
        if (err instanceof FdsLost && this.handlers.undelivered) {
          this.deliverUndelivered(message, err);
          return;
        }
        this.shut(err as Error);
        return;
      }
    }
    try {
      this.handlers.message(message, fds);
    } catch (err) {
      // A handler bug must not leave the peer waiting forever: close, loudly.
      this.shut(new Error(`handling a message from ${this.peer} failed: ${(err as Error).stack ?? err}`));
    }
  }

  private deliverUndelivered(message: In, err: FdsLost): void {
    try {
      this.handlers.undelivered!(message, err);
    } catch (e) {
      this.shut(new Error(`handling a message from ${this.peer} whose fds were lost failed: ${(e as Error).stack ?? e}`));
    }
  }

  private takeFds(expected: number, seq: number | undefined): number[] {
    if (!Number.isInteger(expected) || expected < 1 || expected > MAX_FDS_PER_MESSAGE) {
      throw new Error(`malformed frame from ${this.peer}: fd count ${expected}`);
    }
    const receive = () => recvFds(this.ends.fds, { maxFds: MAX_FDS_PER_MESSAGE, maxBytes: 64, nonBlocking: true });
    let got: ReturnType<typeof recvFds>;
    try {
      got = this.options.reserve ? this.options.reserve.lend(expected, receive) : receive();
    } catch (err) {
      // The fd message is consumed either way (recvmsg took it off the queue): only the fds are
      // lost, so the frames stay in step. Out of fds is a state of this process, not of the peer.
      if (err instanceof SysError && err.code === "EMFILE") {
        throw new FdsLost(`receiving the ${expected} fds of a frame from ${this.peer} failed: ${err.message}`, { cause: err });
      }
      throw err;
    }
    if (!got) throw new Error(`frame from ${this.peer} announced ${expected} fds, but none were queued`);
    const tag = dec.decode(got.data);
    if (got.fds.length !== expected || tag !== String(seq)) {
      for (const fd of got.fds) close(fd);
      throw new Error(
        `frame ${seq} from ${this.peer} announced ${expected} fds; fd message ${tag} carried ${got.fds.length}`,
      );
    }
    return got.fds;
  }

  private shut(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    const socket = this.socket;
    this.socket = null;
    this.pending = [];
    // The Bun socket owns the stream fd; closing it closes the fd. (end(), not terminate():
    // a FIN tells the peer we are gone, and no SO_LINGER is left behind.)
    if (socket) socket.end();
    else close(this.ends.stream);
    // Drop fds the peer queued but never announced.
    for (;;) {
      let r: ReturnType<typeof recvFds> = null;
      try {
        r = recvFds(this.ends.fds, { nonBlocking: true, maxBytes: 64 });
      } catch {
        break;
      }
      if (!r) break;
      for (const fd of r.fds) close(fd);
    }
    close(this.ends.fds);
    this.handlers.close(error);
  }
}

/** The fds of a frame could not be received (EMFILE): the message arrived, its fds did not. */
export class FdsLost extends Error {
  override readonly name = "FdsLost";
}
