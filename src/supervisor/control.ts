// The control socket: `liveframe reload|status|stop` talk to the supervisor here. One JSON
// request line per connection, one JSON response line back. Every peer's uid is checked with
// SO_PEERCRED before a byte of it is read; a foreign peer or a malformed request is logged and
// its connection dropped, nothing else happens.
import type { Socket, UnixSocketListener } from "bun";
import { chmodSync } from "node:fs";
import { getuid, peerCred } from "../../ffi/index.ts";
import { controlRequestSchema, parseMessage, type ControlRequest, type ControlResponse } from "../handoff/index.ts";

/** A request is a few dozen bytes; anything longer is not a liveframe client. */
const MAX_REQUEST_BYTES = 4096;
/** A client that connects and says nothing is dropped after this long. */
const REQUEST_TIMEOUT_S = 10;

interface Peer {
  buffer: string;
  handled: boolean;
  who: string;
}

export type ControlHandler = (req: ControlRequest) => Promise<unknown>;

export class ControlServer {
  private readonly listener: UnixSocketListener<Peer>;

  constructor(
    readonly path: string,
    private readonly handle: ControlHandler,
  ) {
    // Created 0600 from the start (no window in which it is wider), then checked.
    const umask = process.umask(0o177);
    try {
      this.listener = Bun.listen<Peer>({
        unix: path,
        socket: {
          open: (s) => this.onOpen(s),
          data: (s, d) => this.onData(s, d),
          timeout: (s) => this.drop(s, `said nothing within ${REQUEST_TIMEOUT_S} s`),
          error: () => {},
        },
      });
    } finally {
      process.umask(umask);
    }
    chmodSync(path, 0o600);
  }

  stop(): void {
    this.listener.stop(true);
  }

  private onOpen(s: Socket<Peer>): void {
    s.data = { buffer: "", handled: false, who: "control peer" };
    const fd = (s as unknown as { fd?: number }).fd;
    let cred: { pid: number; uid: number } | null = null;
    try {
      if (typeof fd === "number") cred = peerCred(fd);
    } catch {
      // fall through: unknown peer
    }
    if (!cred) return this.drop(s, "its credentials could not be read (SO_PEERCRED)");
    s.data.who = `control peer pid ${cred.pid} uid ${cred.uid}`;
    const uid = getuid();
    if (cred.uid !== uid && cred.uid !== 0) {
      return this.drop(s, `refused: only uid ${uid} or root may control this server`);
    }
    s.timeout(REQUEST_TIMEOUT_S);
  }

  private onData(s: Socket<Peer>, d: Buffer): void {
    const peer = s.data;
    if (peer.handled) return this.drop(s, "sent more than one request");
    peer.buffer += d.toString("utf8");
    if (peer.buffer.length > MAX_REQUEST_BYTES) return this.drop(s, `sent more than ${MAX_REQUEST_BYTES} bytes`);
    const nl = peer.buffer.indexOf("\n");
    if (nl < 0) return;
    peer.handled = true;
    let req: ControlRequest;
    try {
      req = parseMessage(controlRequestSchema, JSON.parse(peer.buffer.slice(0, nl)), peer.who);
    } catch (err) {
      return this.drop(s, `sent a malformed request: ${(err as Error).message}`);
    }
    s.timeout(0);
    this.handle(req).then(
      (result) => reply(s, { ok: true, cmd: req.cmd, result }),
      (err: Error) => reply(s, { ok: false, error: err.message }),
    );
  }

  private drop(s: Socket<Peer>, why: string): void {
    console.error(`liveframe: control socket: ${s.data?.who ?? "control peer"} ${why}; connection dropped`);
    s.terminate();
  }
}

function reply(s: Socket<Peer>, r: ControlResponse): void {
  s.end(JSON.stringify(r) + "\n");
}
