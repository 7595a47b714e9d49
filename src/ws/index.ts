// The WebSocket engine's surface (issue 11). The HTTP engine serves it through src/http/ws-link.ts
// (the contract is in upgrade.ts's header).
export { upgradeWebSocket, websocket, WebSocketOpenEvent, type WebSocketServer, type LiveWebSocketData, type WebSocketHandlers } from "./upgrade.ts";
export { LiveServerWebSocket } from "./server-websocket.ts";
export { WebSocketSession, defaultSessionOptions, systemClock, ReadyState, type SessionOptions, type SessionHandler, type WsTransport, type WsClock, type UpgradeInfo } from "./session.ts";
export { checkUpgrade, acceptResponse, rejectResponse, selectProtocol, acceptKey, type UpgradeCheck } from "./handshake.ts";
export { movedWebSocketSchema, parseMovedWebSocket, MOVED_WEBSOCKET_VERSION, type MovedWebSocket } from "./moved.ts";
export { CloseCode, WsProtocolError } from "./protocol.ts";
export type { JsonValue } from "./json.ts";
export * from "./limits.ts";
export { negotiateDeflate, DEFLATE_RESPONSE } from "./deflate.ts";
