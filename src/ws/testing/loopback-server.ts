// A minimal HTTP/1.1 front for tests only: reads one request head per connection, runs a Hono
// app with an `env` whose upgrade() follows the contract in upgrade.ts, and on upgrade drives a
// WebSocketSession over the socket. It is the integration the engine will do (the hooks
// connection.ts needs, in ~100 lines), so the protocol core is tested against real clients on
// real loopback sockets before the engine exists. Not an HTTP server: no keep-alive, no bodies.
import type { Socket } from "bun";
import { acceptResponse, checkUpgrade, rejectResponse, selectProtocol } from "../handshake.ts";
import { negotiateDeflate } from "../deflate.ts";
import { defaultSessionOptions, WebSocketSession, type SessionOptions, type UpgradeInfo } from "../session.ts";
import { parseMovedWebSocket, type MovedWebSocket } from "../moved.ts";
import { LiveServerWebSocket } from "../server-websocket.ts";
import { websocket as honoHandlers, type WebSocketHandlers } from "../upgrade.ts";

interface FetchApp {
  fetch(request: Request, env: unknown): Response | Promise<Response>;
}

interface ConnState {
  ws: LiveServerWebSocket<any> | null;
  /** The socket closed while no session owned it (during a move's re-routing). */
  closed: boolean;
  /** The head read so far; null once complete. */
  head: Buffer | null;
  /** Bytes after the head that arrived while the app ran. */
  early: Buffer[];
  session: WebSocketSession | null;
}

export interface LoopbackServer {
  port: number;
  /** Sessions currently open. */
  sessions: Set<WebSocketSession>;
  /**
   * What a reload will do, within one process: every open WebSocket is moved at a message
   * boundary (snapshot → JSON → validated record → restore) to `next`, whose own
   * upgradeWebSocket route takes it over (onOpen with moved: true); new connections go to
   * `next` too. A WebSocket `next` does not upgrade is closed with 1012.
   */
  moveAll(next: FetchApp, o?: { waitForHeldBytes?: boolean }): Promise<{ moved: number; refused: number }>;
  stop(): void;
}

export function startLoopbackServer(
  app: FetchApp,
  options: Partial<SessionOptions> & { perMessageDeflate?: boolean } = {},
  handlers: WebSocketHandlers<any> = honoHandlers,
): LoopbackServer {
  const sessions = new Set<WebSocketSession>();
  const sockets = new Set<Socket<ConnState>>();
  const sessionOptions = { ...defaultSessionOptions, ...options };
  let current = app;

  /** A session over `socket` whose events go to `handlers` through `ws` (set right after). */
  function sessionFor(socket: Socket<ConnState>, info: UpgradeInfo, restoreFrom?: MovedWebSocket): WebSocketSession {
    const events = {
      onMessage: (d: string | Buffer) => handlers.message(socket.data.ws!, d),
      onClose: (code: number, reason: string) => {
        sessions.delete(session);
        if (socket.data.ws) handlers.close(socket.data.ws, code, reason);
      },
      onDrain: () => handlers.drain?.(socket.data.ws!),
    };
    const transport = { write: (b: Uint8Array) => socket.write(b), end: () => socket.end() };
    const session = restoreFrom ? WebSocketSession.restore(restoreFrom, transport, events, sessionOptions) : new WebSocketSession(transport, events, info, sessionOptions);
    sessions.add(session);
    return session;
  }

  async function onHead(socket: Socket<ConnState>, head: string, rest: Buffer): Promise<void> {
    const [requestLine, ...lines] = head.split("\r\n");
    const [method, target, proto] = requestLine!.split(" ");
    const headers = new Headers();
    const fields: [string, string][] = [];
    for (const line of lines) {
      const i = line.indexOf(":");
      if (i <= 0) continue;
      const name = line.slice(0, i).trim();
      const value = line.slice(i + 1).trim();
      headers.append(name, value);
      fields.push([name.toLowerCase(), value]);
    }
    const version = proto === "HTTP/1.0" ? 10 : 11;
    const check = checkUpgrade({ method: method!, headers }, version);
    // Bun answers a wrong version itself, before the app: so does the engine.
    if (check.kind === "reject" && check.status === 426) {
      socket.write(rejectResponse(check));
      socket.end();
      return;
    }
    const url = `http://${headers.get("host") ?? "localhost"}${target}`;
    const request = new Request(url, { method, headers });
    let upgrade: { data: unknown; headers?: Record<string, string> | Headers } | null = null;
    const env = {
      upgrade(r: Request, o: { data?: unknown; headers?: Record<string, string> | Headers } = {}): boolean {
        if (r !== request || upgrade !== null || check.kind !== "accept") return false;
        upgrade = { data: o.data, headers: o.headers };
        return true;
      },
    };
    const response = await current.fetch(request, env);
    if (upgrade === null || check.kind !== "accept") {
      const body = await response.text();
      socket.write(`HTTP/1.1 ${response.status} X\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      socket.end();
      return;
    }
    const u = upgrade as { data: unknown; headers?: Record<string, string> | Headers };
    const protocol = selectProtocol(check.offeredProtocols, (u.headers instanceof Headers ? u.headers.get("sec-websocket-protocol") : u.headers?.["Sec-WebSocket-Protocol"]) ?? undefined);
    const extensions = options.perMessageDeflate ? negotiateDeflate(check.offeredExtensions) : "";
    socket.write(acceptResponse({ accept: check.accept, protocol, extensions, headers: u.headers }));
    const session = sessionFor(socket, { url, headers: fields, protocol, extensions });
    socket.data.ws = new LiveServerWebSocket(session, u.data, socket.remoteAddress);
    socket.data.session = session;
    handlers.open(socket.data.ws);
    if (rest.length > 0) session.receive(rest);
    for (const b of socket.data.early.splice(0)) session.receive(b);
  }

  /** The next generation's side of a move: re-route the upgrade request through `next`, restore, resume. */
  async function adopt(socket: Socket<ConnState>, record: MovedWebSocket, next: FetchApp): Promise<boolean> {
    const request = new Request(record.url, { headers: record.headers });
    let data: { data: unknown } | null = null;
    const env = {
      upgrade(r: Request, o: { data?: unknown } = {}): boolean {
        if (r !== request || data !== null) return false;
        data = { data: o.data };
        return true;
      },
    };
    await next.fetch(request, env);
    const session = sessionFor(socket, record, record);
    if (data === null) {
      socket.data.session = session;
      session.closeForRestart();
      return false;
    }
    socket.data.ws = new LiveServerWebSocket(session, (data as { data: unknown }).data, socket.remoteAddress, true, record.attached);
    socket.data.session = session;
    handlers.open(socket.data.ws);
    session.resume();
    for (const b of socket.data.early.splice(0)) session.receive(b);
    if (socket.data.closed) session.transportClosed(); // the client left during the move
    return true;
  }

  /** Checked after every read while a move waits for held bytes. */
  let heldCheck: (() => void) | null = null;

  async function moveAll(next: FetchApp, o: { waitForHeldBytes?: boolean } = {}): Promise<{ moved: number; refused: number }> {
    current = next;
    const open = [...sockets].filter((s) => s.data.session !== null && sessions.has(s.data.session));
    await Promise.all(open.map((s) => new Promise<void>((resolve) => s.data.session!.prepareToMove(resolve))));
    if (o.waitForHeldBytes) {
      // Like a real reload, where bytes keep arriving between "movable" and the handoff: wait
      // until every connection holds some, so the move must carry them.
      const all = Promise.withResolvers<void>();
      heldCheck = () => open.every((s) => s.data.session!.heldBytes > 0) && all.resolve();
      heldCheck();
      await all.promise;
      heldCheck = null;
    }
    let moved = 0;
    let refused = 0;
    await Promise.all(
      open.map(async (s) => {
        const old = s.data.session!;
        sessions.delete(old);
        // Over the wire in a real reload: JSON, validated on receipt.
        const record = parseMovedWebSocket(JSON.parse(JSON.stringify(old.snapshot(s.data.ws!.attached))), "the previous generation");
        old.handedOver(); // in one process the "new owner" has it as soon as the record exists
        s.data.session = null; // bytes arriving while the new app routes the request wait in `early`
        s.data.ws = null;
        if (await adopt(s, record, next)) moved++;
        else refused++;
      }),
    );
    return { moved, refused };
  }

  const listener = Bun.listen<ConnState>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(s) {
        sockets.add(s);
        s.data = { head: Buffer.alloc(0), early: [], session: null, ws: null, closed: false };
      },
      data(s, chunk) {
        if (s.data.session) {
          s.data.session.receive(chunk);
          heldCheck?.();
          return;
        }
        if (s.data.head === null) return void s.data.early.push(Buffer.from(chunk));
        const all = Buffer.concat([s.data.head, chunk]);
        const end = all.indexOf("\r\n\r\n");
        if (end < 0) {
          s.data.head = all;
          return;
        }
        s.data.head = null;
        onHead(s, all.subarray(0, end).toString("latin1"), Buffer.from(all.subarray(end + 4))).catch((e) => {
          console.error("loopback server:", e);
          s.end();
        });
      },
      drain(s) {
        s.data.session?.drain();
      },
      close(s) {
        sockets.delete(s);
        s.data.closed = true;
        s.data.session?.transportClosed();
      },
      error() {},
    },
  });
  return {
    port: listener.port,
    sessions,
    moveAll,
    stop: () => listener.stop(true),
  };
}
