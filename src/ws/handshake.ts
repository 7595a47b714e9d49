// The server's opening handshake (RFC 6455 §4.2): decide whether a request is a valid WebSocket
// upgrade, and write the 101 that accepts it. Pure functions over a request's method, HTTP
// version and headers, so the engine can run them on its parsed head and the upgrade helper on a
// Request, and tests need no socket.
//
// What Bun.serve does, and so what this does (checked in handshake.test.ts against Bun.serve):
// - A wrong or missing Sec-WebSocket-Version gets 426 with `Sec-WebSocket-Version: 13` from the
//   server itself, before the app runs.
// - Any other bad upgrade (missing key, POST, no `Connection: upgrade`) is not upgraded: Bun's
//   server.upgrade() returns false and the app answers. Here that is `reject` with status 400, so
//   the caller may answer 400 (issue 11) or let the app answer (Bun).
// - The subprotocol: the app may pick one of those offered; by default the first offered one is
//   echoed (Bun does the same). A protocol the client did not offer is never sent.
// - Extensions: none by default (Bun's default `perMessageDeflate: false`), so the 101 carries no
//   Sec-WebSocket-Extensions and every RSV bit stays an error. With deflate enabled, deflate.ts
//   negotiates permessage-deflate without context takeover, as Bun does.

/** tchar (RFC 9110 §5.6.2). Own copy: src/ws does not depend on the HTTP engine's internals. */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[c.charCodeAt(0)] = 1;

/** RFC 6455 §1.3: appended to the client's key before hashing. */
export const WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/** The only protocol version RFC 6455 defines. */
export const WEBSOCKET_VERSION = "13";
/** Base64 of 16 bytes: 22 characters and "==" (RFC 6455 §4.1 item 7; ws checks the same shape). */
const KEY_SHAPE = /^[A-Za-z0-9+/]{22}==$/;

/** Just what the handshake reads from a request: a `Request` fits. */
export interface UpgradeRequestHead {
  method: string;
  headers: Headers;
}

export interface ExtensionOffer {
  name: string;
  params: Record<string, string | true>;
}

export type UpgradeCheck =
  /** No `Upgrade: websocket`: an ordinary HTTP request. */
  | { kind: "not-websocket" }
  /** A WebSocket upgrade that cannot be accepted: answer `status` with `headers`, then close. */
  | { kind: "reject"; status: 400 | 426; reason: string; headers: Record<string, string> }
  | {
      kind: "accept";
      key: string;
      /** Sec-WebSocket-Accept for this key. */
      accept: string;
      /** Sec-WebSocket-Protocol tokens in the client's order of preference. */
      offeredProtocols: string[];
      /** Sec-WebSocket-Extensions offers, in order (none is accepted today). */
      offeredExtensions: ExtensionOffer[];
    };

/** Whether a comma-separated header value holds `token` (case-insensitive, RFC 9110 §5.6.1). */
export function hasToken(value: string | null, token: string): boolean {
  if (value === null) return false;
  for (const part of value.split(",")) if (part.trim().toLowerCase() === token) return true;
  return false;
}

/**
 * Checks a request against RFC 6455 §4.2.1. `httpVersion` is 10 or 11 (the engine knows it; a
 * `Request` does not): the RFC requires HTTP/1.1 or later.
 */
export function checkUpgrade(req: UpgradeRequestHead, httpVersion = 11): UpgradeCheck {
  const h = req.headers;
  if (!hasToken(h.get("upgrade"), "websocket")) return { kind: "not-websocket" };
  const reject = (status: 400 | 426, reason: string, headers: Record<string, string> = {}): UpgradeCheck => ({ kind: "reject", status, reason, headers });
  if (h.get("sec-websocket-version")?.trim() !== WEBSOCKET_VERSION)
    return reject(426, `unsupported WebSocket version "${h.get("sec-websocket-version") ?? ""}": only 13 (RFC 6455) is spoken`, { "Sec-WebSocket-Version": WEBSOCKET_VERSION });
  if (req.method !== "GET") return reject(400, `a WebSocket upgrade must be a GET request, not ${req.method}`);
  if (httpVersion < 11) return reject(400, "a WebSocket upgrade needs HTTP/1.1");
  if (!hasToken(h.get("connection"), "upgrade")) return reject(400, 'a WebSocket upgrade needs "Connection: Upgrade"');
  if (!h.get("host")) return reject(400, "a WebSocket upgrade needs a Host header");
  const key = h.get("sec-websocket-key")?.trim() ?? "";
  if (!KEY_SHAPE.test(key)) return reject(400, "Sec-WebSocket-Key must be the base64 of 16 bytes");
  return {
    kind: "accept",
    key,
    accept: acceptKey(key),
    offeredProtocols: parseProtocols(h.get("sec-websocket-protocol")),
    offeredExtensions: parseExtensions(h.get("sec-websocket-extensions")),
  };
}

/** Sec-WebSocket-Accept: base64(SHA-1(key + GUID)) (RFC 6455 §4.2.2 item 5.4). */
export function acceptKey(key: string): string {
  return new Bun.CryptoHasher("sha1").update(key + WEBSOCKET_GUID).digest("base64");
}

/** Sec-WebSocket-Protocol's tokens (RFC 6455 §4.1 item 10); anything that is not a token is dropped. */
export function parseProtocols(value: string | null): string[] {
  if (value === null) return [];
  const out: string[] = [];
  for (const part of value.split(",")) {
    const p = part.trim();
    if (p !== "" && isToken(p) && !out.includes(p)) out.push(p);
  }
  return out;
}

/** Sec-WebSocket-Extensions (RFC 6455 §9.1): `name; param; param=value, name2`. Malformed offers are dropped. */
export function parseExtensions(value: string | null): ExtensionOffer[] {
  if (value === null) return [];
  const out: ExtensionOffer[] = [];
  for (const offer of value.split(",")) {
    const [name, ...rawParams] = offer.split(";").map((s) => s.trim());
    if (!name || !isToken(name)) continue;
    const params: Record<string, string | true> = {};
    let ok = true;
    for (const p of rawParams) {
      const eq = p.indexOf("=");
      const k = (eq < 0 ? p : p.slice(0, eq)).trim();
      let v = eq < 0 ? "" : p.slice(eq + 1).trim();
      if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
      if (!isToken(k)) ok = false;
      params[k] = eq < 0 ? true : v;
    }
    if (ok) out.push({ name: name.toLowerCase(), params });
  }
  return out;
}

/**
 * The subprotocol to answer with: the app's `chosen` one (which must be among those offered:
 * RFC 6455 §4.1 item 6 makes the client fail a connection that echoes anything else), else the
 * first offered one, as Bun does; "" for none.
 */
export function selectProtocol(offered: readonly string[], chosen?: string | null): string {
  if (chosen === undefined) return offered[0] ?? "";
  if (chosen === null || chosen === "") return "";
  if (!offered.includes(chosen))
    throw new Error(`WebSocket subprotocol "${chosen}" was not offered by the client (offered: ${offered.length ? offered.join(", ") : "none"}): choose one of the offered ones or none`);
  return chosen;
}

export interface AcceptResponse {
  accept: string;
  /** "" for no Sec-WebSocket-Protocol header. */
  protocol: string;
  /** Negotiated Sec-WebSocket-Extensions (deflate.ts negotiateDeflate), "" or absent for none. */
  extensions?: string;
  /** Extra headers the app asked for (server.upgrade(req, { headers })), after the handshake's own. */
  headers?: Record<string, string> | Headers;
  /** The Date header value (the engine passes its cached one). */
  date?: string;
}

const HANDSHAKE_HEADERS = new Set(["upgrade", "connection", "sec-websocket-accept", "sec-websocket-protocol", "sec-websocket-extensions", "date", "content-length", "transfer-encoding"]);

/** The 101 Switching Protocols head, in the order Bun writes it; `date` last, as Bun does. */
export function acceptResponse(o: AcceptResponse): string {
  let head = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${o.accept}\r\n`;
  if (o.protocol !== "") head += `Sec-WebSocket-Protocol: ${o.protocol}\r\n`;
  if (o.extensions) head += `Sec-WebSocket-Extensions: ${o.extensions}\r\n`;
  if (o.headers) {
    const entries = o.headers instanceof Headers ? [...o.headers.entries()] : Object.entries(o.headers);
    for (const [name, value] of entries) {
      if (!isToken(name) || /[\r\n\0]/.test(value)) throw new Error(`invalid upgrade response header ${JSON.stringify(name)}: names must be tokens and values must not contain CR, LF or NUL`);
      if (HANDSHAKE_HEADERS.has(name.toLowerCase())) continue; // the handshake owns these
      head += `${name}: ${value}\r\n`;
    }
  }
  head += `Date: ${o.date ?? new Date().toUTCString()}\r\n\r\n`;
  return head;
}

/** The response for a rejected upgrade, as Bun writes its 426 (no body; the connection closes). */
export function rejectResponse(check: Extract<UpgradeCheck, { kind: "reject" }>): string {
  const text = check.status === 426 ? "Upgrade Required" : "Bad Request";
  let head = `HTTP/1.1 ${check.status} ${text}\r\n`;
  for (const [name, value] of Object.entries(check.headers)) head += `${name}: ${value}\r\n`;
  return head + "Connection: close\r\n\r\n";
}

function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 255 || !TCHAR[c]) return false;
  }
  return true;
}
