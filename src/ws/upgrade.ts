// Hono's WebSocket helper for liveframe: `upgradeWebSocket((c) => ({ onOpen, onMessage, onClose,
// onError }))`, with hono/bun's signature and behaviour, so an app written for hono/bun changes
// one import. It is hono/bun's design on liveframe's server object; `websocket` below is the
// handler set the engine calls (the one hono/bun asks the app to pass to Bun.serve).
//
// THE CONTRACT THE ENGINE MUST FULFIL (issue 11 integration; testing/loopback-server.ts is a
// working model of all of it, exercised by interop.test.ts and move.test.ts):
// 1. Before the app: a request whose checkUpgrade() is `reject` with status 426 (wrong
//    Sec-WebSocket-Version) is answered rejectResponse() and the connection closed; the app
//    does not run (Bun does the same).
// 2. app.fetch(request, env): `env` has `upgrade(request, { data, headers })` (WebSocketServer),
//    as Bun's Server does. It returns true when checkUpgrade(request) is "accept" and `request`
//    is the one being served on this connection and not upgraded yet; the engine then remembers
//    `data` and `headers`, and ignores the Response the app returns (hono returns
//    `new Response(null)`, as under Bun). Anything else returns false and the app answers as
//    usual. The engine knows the HTTP version; a Request does not (pass it to checkUpgrade).
// 3. After the handler settles, for an upgraded request: flush what is queued for earlier
//    responses, write acceptResponse({ accept, protocol: selectProtocol(offered, app's
//    Sec-WebSocket-Protocol header), extensions: perMessageDeflate ? negotiateDeflate(offers)
//    : "", headers, date }), stop HTTP parsing on this connection for good, and build
//    `new WebSocketSession({ write: b => socket.write(b), end: () => socket.end() }, handlers,
//    { url, headers, protocol, extensions }, options)` with handlers calling websocket.message /
//    close / drain, then `new LiveServerWebSocket(session, data, remoteAddress)` and
//    websocket.open(ws). Socket `data` → session.receive (bytes already read past the request
//    head first, then any that arrived while the app ran), `drain` → session.drain(), `close`
//    → session.transportClosed(). Keep-alive and request timers stop; the session has its own.
// 4. Moving (reload): per WebSocket, session.prepareToMove(onMovable); while
//    `!session.wantsInput` pause reading. When onMovable fires (message boundary, outgoing
//    queue flushed, no async handler of the old code pending), pause reading, then
//    session.snapshot(ws.attached) gives the MovedWebSocket record to send with the fd; once
//    the new generation confirms, session.handedOver() (drop the fd without FIN/RST, as for
//    HTTP connections). Not movable before the drain timeout → session.closeForRestart()
//    (1012). A failed handoff → session.cancelMove() (the old generation keeps it, held bytes
//    included). The new generation: parseMovedWebSocket(record), then
//    app.fetch(new Request(record.url, { headers: record.headers }), env) through the NEW app,
//    where env.upgrade(request) returns true for this request WITHOUT writing a 101; then
//    WebSocketSession.restore(record, transport, handlers, options), a LiveServerWebSocket with
//    moved = true and record.attached, websocket.open(ws) (the app's onOpen sees evt.moved and
//    evt.attached), session.resume(). If the new app does not upgrade it: closeForRestart().
import { WSContext, createWSMessageEvent, defineWebSocketHelper, type UpgradeWebSocket, type WSEvents } from "hono/ws";
import type { Context } from "hono";
import type { JsonValue } from "./json.ts";
import type { LiveServerWebSocket } from "./server-websocket.ts";

/** What upgradeWebSocket needs from `env` (app.fetch's 2nd argument): Bun's Server fits too. */
export interface WebSocketServer {
  upgrade(request: Request, options?: { data?: unknown; headers?: Record<string, string> | Headers }): boolean;
}

/** What upgradeWebSocket passes as `data`, as hono/bun does. */
export interface LiveWebSocketData {
  events: WSEvents<LiveServerWebSocket<LiveWebSocketData>>;
  url: URL;
  protocol: string;
}

/** The handlers the engine calls for every WebSocket (hono/bun's `websocket`, for liveframe). */
export interface WebSocketHandlers<T> {
  open(ws: LiveServerWebSocket<T>): void;
  message(ws: LiveServerWebSocket<T>, message: string | Buffer): void;
  close(ws: LiveServerWebSocket<T>, code: number, reason: string): void;
  drain?(ws: LiveServerWebSocket<T>): void;
}

/**
 * The open event. A WebSocket that moved from the previous generation has `moved: true` and
 * the value the old code attached (ws.raw.attach(value)); a new one has `moved: false`.
 */
export class WebSocketOpenEvent extends Event {
  constructor(
    readonly moved: boolean,
    readonly attached: JsonValue,
  ) {
    super("open");
  }
}

function serverOf(c: Context): WebSocketServer | undefined {
  const env = c.env as unknown;
  if (env === null || typeof env !== "object") return undefined;
  const server = "server" in env ? (env as { server: unknown }).server : env;
  if (server !== null && typeof server === "object" && typeof (server as WebSocketServer).upgrade === "function") return server as WebSocketServer;
  return undefined;
}

/**
 * Upgrades the request to a WebSocket when it is one; otherwise calls the next handler.
 * Same signature and behaviour as hono/bun's upgradeWebSocket.
 */
export const upgradeWebSocket: UpgradeWebSocket<LiveServerWebSocket<LiveWebSocketData>> = defineWebSocketHelper<LiveServerWebSocket<LiveWebSocketData>>((c, events) => {
  const server = serverOf(c);
  if (!server)
    throw new TypeError("upgradeWebSocket: app.fetch got no server as its 2nd argument (env): serve the app with liveframe (or Bun.serve), which passes it");
  const data: LiveWebSocketData = {
    events,
    url: new URL(c.req.url),
    protocol: c.req.header("sec-websocket-protocol")?.split(",")[0]?.trim() ?? "",
  };
  if (server.upgrade(c.req.raw, { data })) return new Response(null);
  return undefined;
});

function context(ws: LiveServerWebSocket<LiveWebSocketData>): WSContext<LiveServerWebSocket<LiveWebSocketData>> {
  return new WSContext({
    send: (source, options) => {
      ws.send(source, options?.compress);
    },
    raw: ws,
    readyState: ws.readyState,
    url: ws.data.url,
    protocol: ws.data.protocol,
    close: (code, reason) => ws.close(code, reason),
  });
}

/** Runs an app handler; a throw or rejection goes to onError, or (without one) is rethrown, as hono/bun does. */
function run(ws: LiveServerWebSocket<LiveWebSocketData>, handler: () => unknown): void {
  const handleError = (error: unknown) => {
    const onError = ws.data.events.onError;
    if (!onError) throw error;
    const event = new Event("error") as Event & { error: unknown };
    event.error = error;
    onError(event, context(ws));
  };
  try {
    const result = handler();
    if (result instanceof Promise) {
      // An async handler may still reply: the WebSocket does not move before it settles.
      ws.pinWhile(result);
      result.catch((e) => {
        try {
          handleError(e);
        } catch (e2) {
          // No onError: an async failure has nowhere to go but the log (it must not kill the process).
          console.error("liveframe: a WebSocket handler failed:", e2);
        }
      });
    }
  } catch (error) {
    handleError(error);
  }
}

/** The engine's handlers for WebSockets opened by upgradeWebSocket. */
export const websocket: WebSocketHandlers<LiveWebSocketData> = {
  open(ws) {
    const on = ws.data.events.onOpen;
    if (on) run(ws, () => on(new WebSocketOpenEvent(ws.moved, ws.attached), context(ws)));
  },
  message(ws, message) {
    const on = ws.data.events.onMessage;
    if (!on) return;
    // As hono/bun: text stays a string, binary becomes the ArrayBuffer (exactly the message's bytes).
    const data = typeof message === "string" ? message : (message.buffer as ArrayBuffer);
    run(ws, () => on(createWSMessageEvent(data), context(ws)));
  },
  close(ws, code, reason) {
    const on = ws.data.events.onClose;
    if (on) run(ws, () => on(new CloseEvent("close", { code, reason }), context(ws)));
  },
};
