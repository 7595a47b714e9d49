// A minimal HTTP/1.1 front for tests only: reads one request head per connection, runs a Hono
// app with an `env` whose upgrade() follows the contract in upgrade.ts, and on upgrade drives a
// WebSocketSession over the socket. It is the integration the engine will do (the hooks
// connection.ts needs, in ~100 lines), so the protocol core is tested against real clients on
// real loopback sockets before the engine exists. Not an HTTP server: no keep-alive, no bodies.
import type { Socket } from "bun";
import { acceptResponse, checkUpgrade, rejectResponse, selectProtocol } from "../handshake.ts";
import { negotiateDeflate } from "../deflate.ts";
import { defaultSessionOptions, WebSocketSession, type SessionOptions } from "../session.ts";
import { LiveServerWebSocket } from "../server-websocket.ts";
import { websocket as honoHandlers, type WebSocketHandlers } from "../upgrade.ts";

interface FetchApp {
  fetch(request: Request, env: unknown): Response | Promise<Response>;
}

interface ConnState {
  /** The head read so far; null once complete. */
  head: Buffer | null;
  /** Bytes after the head that arrived while the app ran. */
  early: Buffer[];
  session: WebSocketSession | null;
}

export interface LoopbackServer {
  port: number;
  /** Sessions currently open (for tests that move them). */
  sessions: Set<WebSocketSession>;
  stop(): void;
}

export function startLoopbackServer(
  app: FetchApp,
  options: Partial<SessionOptions> & { perMessageDeflate?: boolean } = {},
  handlers: WebSocketHandlers<any> = honoHandlers,
): LoopbackServer {
  const sessions = new Set<WebSocketSession>();
  const sessionOptions = { ...defaultSessionOptions, ...options };

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
    const response = await app.fetch(request, env);
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
    let ws!: LiveServerWebSocket<any>;
    const session = new WebSocketSession(
      { write: (b) => socket.write(b), end: () => socket.end() },
      {
        onMessage: (d) => handlers.message(ws, d),
        onClose: (code, reason) => {
          sessions.delete(session);
          handlers.close(ws, code, reason);
        },
        onDrain: () => handlers.drain?.(ws),
      },
      { url, headers: fields, protocol, extensions },
      sessionOptions,
    );
    ws = new LiveServerWebSocket(session, u.data, socket.remoteAddress);
    socket.data.session = session;
    sessions.add(session);
    handlers.open(ws);
    if (rest.length > 0) session.receive(rest);
    for (const b of socket.data.early.splice(0)) session.receive(b);
  }

  const listener = Bun.listen<ConnState>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(s) {
        s.data = { head: Buffer.alloc(0), early: [], session: null };
      },
      data(s, chunk) {
        if (s.data.session) return s.data.session.receive(chunk);
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
        s.data.session?.transportClosed();
      },
      error() {},
    },
  });
  return {
    port: listener.port,
    sessions,
    stop: () => listener.stop(true),
  };
}
