// The request head (request line + header section) per RFC 9112 §2–§7: found in a byte buffer,
// validated strictly, and turned into the few facts the engine needs. Anything ambiguous is an
// HttpError: a server that guesses at framing is a server that can be desynchronised.
import { HttpError } from "./errors.ts";

export interface HeadLimits {
  maxHeaderBytes: number;
  maxHeaderCount: number;
  maxUrlLength: number;
  maxBodyBytes: number;
}

export interface RequestHead {
  method: string;
  /** The request target exactly as sent. */
  target: string;
  /** origin-form path and query ("/a?b"). */
  path: string;
  /** The authority requests are addressed to: the absolute-form target's, else the Host field. */
  host: string;
  /** 10 or 11: HTTP/1.0 or HTTP/1.1. */
  version: number;
  /** The bytes the head was parsed from (never written to: fields are decoded from it lazily). */
  buf: Buffer;
  /** Header fields in arrival order as byte offsets into buf: nameStart, nameEnd, valueStart, valueEnd, … (see headFields). */
  fieldOffsets: number[];
  /** Declared Content-Length, -1 when absent. */
  contentLength: number;
  chunked: boolean;
  /** Whether the connection may carry another request after this one. */
  keepAlive: boolean;
  expectContinue: boolean;
}

const CR = 13;
const LF = 10;
const SP = 32;
const HTAB = 9;
const COLON = 58;

/** tchar (RFC 9110 §5.6.2) as a lookup table. */
export const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[c.charCodeAt(0)] = 1;

/** Characters allowed in a Host value (uri-host [":" port], RFC 3986 reg-name / IP-literal). */
const HOSTCHAR = new Uint8Array(256);
for (const c of "-._~!$&'()*+,;=:[]%0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") HOSTCHAR[c.charCodeAt(0)] = 1;

const CRLFCRLF = Buffer.from("\r\n\r\n");

/**
 * Index just past the CRLFCRLF that ends the head starting at `start`, or -1 if the buffer does
 * not hold a complete head yet. `from` lets the caller resume a scan instead of repeating it.
 */
export function findHeadEnd(buf: Buffer, start: number, from: number): number {
  const i = buf.indexOf(CRLFCRLF, from < start ? start : from);
  return i < 0 ? -1 : i + 4;
}

/** Skips the empty lines a server SHOULD ignore before a request line (RFC 9112 §2.2). */
export function skipLeadingEmptyLines(buf: Uint8Array, start: number, end: number): number {
  while (start + 1 < end && buf[start] === CR && buf[start + 1] === LF) start += 2;
  return start;
}

/** Throws the right rejection for an incomplete head that has already grown too large. */
export function checkIncompleteHead(buf: Buffer, start: number, end: number, limits: HeadLimits): void {
  const len = end - start;
  const lineEnd = buf.indexOf(LF, start);
  // Still inside the request line: a target that cannot fit is 414, not 431.
  if (lineEnd < 0 && len > limits.maxUrlLength + 32) {
    const firstSpace = buf.indexOf(SP, start);
    if (firstSpace >= 0 && firstSpace - start < 32) throw new HttpError(414, "request target too long");
  }
  if (len > limits.maxHeaderBytes) throw new HttpError(431, "request header section too large");
  // Bytes that can never start a valid request line: refuse now instead of waiting for the limit.
  const first = buf[start]!;
  if (!TCHAR[first] && !(first === CR && len < 2)) throw new HttpError(400, "malformed request line");
  // A method that can never be a known one: refuse at once, not after 16 KiB of it.
  let m = start;
  while (m < end && TCHAR[buf[m]!]) m++;
  if (m - start > MAX_METHOD_LENGTH || (m < end && m > start && buf[m] === SP && knownMethod(buf, start, m) === null)) {
    throw new HttpError(400, "unknown method");
  }
  // A bare LF can never become the CRLFCRLF we wait for: refuse now, not at the timeout.
  for (let i = buf.indexOf(LF, start); i >= 0 && i < end; i = buf.indexOf(LF, i + 1)) {
    if (i === start || buf[i - 1] !== CR) throw new HttpError(400, "bare LF in request head");
  }
}

/** Byte classes inside a field value: 0 invalid, 1 visible or obs-text, 2 SP/HTAB, 3 CR. */
const VALUE = new Uint8Array(256);
for (let c = 0x21; c <= 0xff; c++) VALUE[c] = c === 0x7f ? 0 : 1;
VALUE[SP] = 2;
VALUE[HTAB] = 2;
VALUE[CR] = 3;

/**
 * Bytes allowed in a request target: visible ASCII. "#" included: a fragment should never travel
 * (RFC 9112 §3.2), but Bun.serve accepts one and keeps it in request.url, and it changes nothing
 * about where the message ends.
 */
const TARGET = new Uint8Array(256);
for (let c = 0x21; c <= 0x7e; c++) TARGET[c] = 1;

/** True when buf[at, at + word.length) equals the lower-case ASCII `word`, ignoring case. */
function lowerEq(buf: Uint8Array, at: number, word: string): boolean {
  for (let k = 0; k < word.length; k++) if ((buf[at + k]! | 0x20) !== word.charCodeAt(k)) return false;
  return true;
}

/**
 * The request methods Bun.serve accepts, and no other: its parser (like Node's llhttp) knows a
 * fixed list and drops a connection that sends anything else ("get", "FOO", a 5,000-byte token).
 * Measured against Bun 1.4.5 (test/http-hostile.test.ts); the list is llhttp's HTTP methods.
 */
export const KNOWN_METHODS: readonly string[] = [
  "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
  "ACL", "BIND", "CHECKOUT", "COPY", "LINK", "LOCK", "M-SEARCH", "MERGE", "MKACTIVITY", "MKCALENDAR",
  "MKCOL", "MOVE", "NOTIFY", "PROPFIND", "PROPPATCH", "PURGE", "QUERY", "REBIND", "REPORT", "SEARCH",
  "SOURCE", "SUBSCRIBE", "UNBIND", "UNLINK", "UNLOCK", "UNSUBSCRIBE",
];
/** Longest known method: a request line still without a space after this many bytes is refused. */
const MAX_METHOD_LENGTH = Math.max(...KNOWN_METHODS.map((m) => m.length));
/** KNOWN_METHODS by length, so a method is found by comparing bytes (no string per request). */
const METHODS_BY_LENGTH: string[][] = [];
for (const m of KNOWN_METHODS) (METHODS_BY_LENGTH[m.length] ??= []).push(m);

/** The known method spelled by buf[start, end) (the list's own string: nothing allocated), or null. */
export function knownMethod(buf: Uint8Array, start: number, end: number): string | null {
  const len = end - start;
  if (len === 3 && buf[start] === 71 && buf[start + 1] === 69 && buf[start + 2] === 84) return "GET";
  if (len === 4 && buf[start] === 80 && buf[start + 1] === 79 && buf[start + 2] === 83 && buf[start + 3] === 84) return "POST";
  const candidates = len <= MAX_METHOD_LENGTH ? METHODS_BY_LENGTH[len] : undefined;
  if (candidates === undefined) return null;
  next: for (const m of candidates) {
    for (let k = 0; k < len; k++) if (buf[start + k] !== m.charCodeAt(k)) continue next;
    return m;
  }
  return null;
}

// The last target and Host seen, to skip decoding (and allocating) the same string again: a
// client on a keep-alive connection repeats its Host on every request, and hot paths repeat.
let lastTarget = "/";
let lastHost = "";
/** The last Host value that passed isValidHost (validated once, not per request). */
let lastValidHost = "";

/**
 * uri-host [ ":" port ] (RFC 9112 §3.2, RFC 3986 §3.2.2) that the URL parser accepts too: an
 * IP-literal in brackets, or a reg-name / IPv4 without ":", and a port of at most 65535. Anything
 * else ("a:b:c", "a:99999", "[zz]") is a 400, never a request.url the app cannot parse.
 */
export function isValidHost(host: string): boolean {
  if (host === "") return true; // allowed when the target has no authority (RFC 9112 §3.2); served as localhost
  let name = host;
  const close = host.lastIndexOf("]");
  const colon = host.lastIndexOf(":");
  if (colon > close) {
    const port = host.slice(colon + 1);
    if (!/^[0-9]{0,5}$/.test(port) || Number(port) > 65535) return false;
    name = host.slice(0, colon);
  }
  if (name.startsWith("[")) {
    if (!/^\[(?:[0-9A-Fa-f:.]+|v[0-9A-Fa-f]+\.[-A-Za-z0-9._~!$&'()*+,;=:]+)\]$/.test(name)) return false;
  } else if (name.includes(":") || name.includes("[") || name.includes("]")) return false;
  return URL.canParse(`http://${host}/`);
}

// The last Host and its normal form (cached: a keep-alive client repeats its Host).
let lastRawHost = "localhost";
let lastNormalHost = "localhost";

/**
 * A valid Host as the URL parser writes it, which is what request.url carries under Bun.serve:
 * lower case, default port dropped, "a%41" decoded, IPv4 and IPv6 literals in canonical form.
 */
export function normalHost(host: string): string {
  if (host === lastRawHost) return lastNormalHost;
  const normal = new URL(`http://${host}/`).host;
  lastRawHost = host;
  lastNormalHost = normal;
  return normal;
}

/** buf[start, end) as a latin1 string, reusing `cached` when the bytes are the same. */
function decodeCached(buf: Buffer, start: number, end: number, cached: string): string {
  const len = end - start;
  if (len === cached.length) {
    let k = 0;
    while (k < len && buf[start + k] === cached.charCodeAt(k)) k++;
    if (k === len) return cached;
  }
  return buf.toString("latin1", start, end);
}

/** Header fields of a parsed head as strings, flat: name, value, … (decoded only when asked). */
export function headFields(head: RequestHead): string[] {
  const o = head.fieldOffsets;
  const b = head.buf;
  const out = new Array<string>(o.length / 2);
  for (let k = 0; k < o.length; k += 2) out[k / 2] = b.toString("latin1", o[k]!, o[k + 1]!);
  return out;
}

/** Parses buf[start, end) where end is just past the CRLFCRLF. Throws HttpError when invalid. */
export function parseHead(buf: Buffer, start: number, end: number, limits: HeadLimits): RequestHead {
  if (end - start > limits.maxHeaderBytes) throw new HttpError(431, "request header section too large");
  // Work on bytes (the buffer ends in CRLFCRLF, so every scan below stops inside it).

  // --- request-line = method SP request-target SP HTTP-version CRLF
  let i = start;
  while (TCHAR[buf[i]!]) i++;
  if (i === start || buf[i] !== SP) throw new HttpError(400, "malformed request line: bad method");
  const method = knownMethod(buf, start, i);
  if (method === null) throw new HttpError(400, `unknown method "${buf.toString("latin1", start, Math.min(i, start + MAX_METHOD_LENGTH + 1))}"`);
  const targetStart = ++i;
  while (TARGET[buf[i]!]) i++;
  if (i - targetStart > limits.maxUrlLength) throw new HttpError(414, "request target too long");
  if (buf[i] !== SP) throw new HttpError(400, "malformed request line: bad request target");
  if (i === targetStart) throw new HttpError(400, "malformed request line: empty request target");
  const target = (lastTarget = decodeCached(buf, targetStart, i, lastTarget));
  i++;
  let version: number;
  if (
    buf[i] === 72 && buf[i + 1] === 84 && buf[i + 2] === 84 && buf[i + 3] === 80 && buf[i + 4] === 47 &&
    isDigit(buf[i + 5]!) && buf[i + 6] === 46 && isDigit(buf[i + 7]!) && buf[i + 8] === CR && buf[i + 9] === LF
  ) {
    const major = buf[i + 5]! - 48;
    const minor = buf[i + 7]! - 48;
    if (major === 1 && minor === 1) version = 11;
    else if (major === 1 && minor === 0) version = 10;
    else throw new HttpError(505, `HTTP version ${major}.${minor} not supported`);
  } else throw new HttpError(400, "malformed request line: bad HTTP version");
  i += 10;

  // --- header fields: field-name ":" OWS field-value OWS CRLF
  const offsets: number[] = [];
  let host: string | undefined;
  let contentLength = -1;
  let te: string | undefined;
  let connectionClose = false;
  let connectionKeepAlive = false;
  let expectContinue = false;
  const last = end - 2; // the final CRLF of the empty line
  const maxFields = limits.maxHeaderCount * 4;
  while (i < last) {
    const nameStart = i;
    let c = buf[i]!;
    if (c === SP || c === HTAB) throw new HttpError(400, "obsolete line folding is not accepted");
    while (TCHAR[c]) c = buf[++i]!;
    if (c !== COLON) {
      if (c === SP || c === HTAB) throw new HttpError(400, "whitespace between header field name and colon");
      throw new HttpError(400, "malformed header field name");
    }
    if (i === nameStart) throw new HttpError(400, "empty header field name");
    const nameEnd = i;
    c = buf[++i]!;
    while (c === SP || c === HTAB) c = buf[++i]!;
    const valueStart = i;
    let valueEnd = i;
    for (;;) {
      const k = VALUE[c]!;
      if (k === 1) valueEnd = i + 1;
      else if (k === 3) {
        if (buf[i + 1] !== LF) throw new HttpError(400, "bare CR in header field");
        break;
      } else if (k === 0) {
        throw new HttpError(400, c === 0 ? "NUL in header field value" : c === LF ? "bare LF in header field" : "control character in header field value");
      }
      c = buf[++i]!;
    }
    i += 2;
    if (offsets.push(nameStart, nameEnd, valueStart, valueEnd) > maxFields) throw new HttpError(431, "too many header fields");

    switch (nameEnd - nameStart) {
      case 4:
        if (lowerEq(buf, nameStart, "host")) {
          if (host !== undefined) throw new HttpError(400, "more than one Host header field");
          for (let k = valueStart; k < valueEnd; k++) {
            if (!HOSTCHAR[buf[k]!]) throw new HttpError(400, "invalid Host header field");
          }
          host = lastHost = decodeCached(buf, valueStart, valueEnd, lastHost);
          if (host !== lastValidHost) {
            if (!isValidHost(host)) throw new HttpError(400, "invalid Host header field");
            lastValidHost = host;
          }
        }
        break;
      case 6:
        if (lowerEq(buf, nameStart, "expect")) {
          if (valueEnd - valueStart === 12 && lowerEq(buf, valueStart, "100-continue")) expectContinue = true;
          else throw new HttpError(417, `unsupported expectation "${buf.toString("latin1", valueStart, valueEnd)}"`);
        }
        break;
      case 10:
        if (lowerEq(buf, nameStart, "connection")) {
          // A list of tokens separated by "," with OWS (SP / HTAB) around them, matched on the
          // bytes: "close\xa0" is not "close" (String#trim would make it one).
          let k = valueStart;
          while (k < valueEnd) {
            let e = k;
            while (e < valueEnd && buf[e] !== 44 /* , */) e++;
            let a = k;
            let z = e;
            while (a < z && (buf[a] === SP || buf[a] === HTAB)) a++;
            while (z > a && (buf[z - 1] === SP || buf[z - 1] === HTAB)) z--;
            if (z - a === 5 && lowerEq(buf, a, "close")) connectionClose = true;
            else if (z - a === 10 && lowerEq(buf, a, "keep-alive")) connectionKeepAlive = true;
            k = e + 1;
          }
        }
        break;
      case 14:
        if (lowerEq(buf, nameStart, "content-length")) {
          if (contentLength !== -1) throw new HttpError(400, "more than one Content-Length");
          // 1*DIGIT; leading zeros are valid, so only significant digits count toward overflow.
          if (valueEnd === valueStart) throw new HttpError(400, "invalid Content-Length");
          let n = 0;
          let significant = 0;
          for (let k = valueStart; k < valueEnd; k++) {
            const d = buf[k]!;
            if (!isDigit(d)) throw new HttpError(400, "invalid Content-Length");
            if ((n > 0 || d > 48) && ++significant > 15) throw new HttpError(400, "Content-Length too large");
            n = n * 10 + (d - 48);
          }
          contentLength = n;
        }
        break;
      case 17:
        if (lowerEq(buf, nameStart, "transfer-encoding")) {
          const v = buf.toString("latin1", valueStart, valueEnd);
          te = te === undefined ? v : `${te}, ${v}`;
        }
        break;
    }
  }

  // --- target form and authority (RFC 9112 §3.2)
  let path = target;
  const first = target.charCodeAt(0);
  if (first === 0x2f /* / */) {
    // origin-form
  } else if (target === "*") {
    // Bun.serve refuses asterisk-form (even OPTIONS *) with a 400 before the app: an app there
    // never sees it, and no URL could tell it from a request for "/*".
    throw new HttpError(400, "asterisk-form target (*) is not served: send a path");
  } else if (method === "CONNECT") {
    throw new HttpError(501, "CONNECT is not supported");
  } else {
    // absolute-form. Bun.serve makes request.url from the Host field and the target's path, and
    // ignores the target's authority, whatever it holds: an app must see the URL it sees there.
    const m = /^https?:\/\/[^/?]*/i.exec(target);
    if (!m) throw new HttpError(400, "malformed request target: not origin-form (/path) or an http(s) absolute URL");
    const rest = target.slice(m[0].length);
    path = rest === "" ? "/" : rest.charCodeAt(0) === 0x3f /* ? */ ? `/${rest}` : rest;
    if (host === undefined && version === 10) {
      // HTTP/1.0 without Host: the target's authority is all there is (RFC 9112 §3.2.2).
      const authority = m[0].slice(m[0].indexOf("//") + 2);
      let ok = authority !== "";
      for (let k = 0; ok && k < authority.length; k++) ok = HOSTCHAR[authority.charCodeAt(k)] === 1;
      if (ok && isValidHost(authority)) host = authority;
    }
  }
  if (host === undefined) {
    if (version === 11) throw new HttpError(400, "missing Host header field");
    host = "localhost";
  } else if (host === "") {
    host = "localhost";
  } else {
    host = normalHost(host);
  }

  // --- message body framing (RFC 9112 §6)
  let chunked = false;
  if (te !== undefined) {
    if (contentLength !== -1) throw new HttpError(400, "both Content-Length and Transfer-Encoding");
    if (version === 10) throw new HttpError(400, "Transfer-Encoding in an HTTP/1.0 request");
    // Split and trimmed of OWS only (RFC 9110 §5.6.1): "chunked\xa0" or "\xa0chunked" is not
    // chunked (String#trim strips U+00A0: a TE.TE desync behind a proxy that disagrees).
    const items = te.split(",").map(trimOws).filter((t) => t !== "");
    const codings = items.map((item) => {
      const semi = item.indexOf(";");
      const name = (semi < 0 ? item : trimOws(item.slice(0, semi))).toLowerCase();
      if (!TOKEN.test(name)) throw new HttpError(400, `malformed transfer coding "${item}"`);
      // The chunked coding has no parameters (RFC 9112 §7): "chunked;x=1" is not chunked.
      if (semi >= 0 && name === "chunked") throw new HttpError(400, "the chunked transfer coding takes no parameters");
      return name;
    });
    if (codings.length === 0) throw new HttpError(400, "empty Transfer-Encoding");
    if (codings[codings.length - 1] !== "chunked") throw new HttpError(400, "chunked is not the final transfer coding");
    for (let k = 0; k < codings.length - 1; k++) {
      if (codings[k] === "chunked") throw new HttpError(400, "chunked applied more than once");
      throw new HttpError(501, `transfer coding "${codings[k]}" is not implemented`);
    }
    chunked = true;
  } else if (contentLength > limits.maxBodyBytes) {
    throw new HttpError(413, `request body of ${contentLength} bytes exceeds the limit of ${limits.maxBodyBytes}`);
  }

  const keepAlive = version === 11 ? !connectionClose : connectionKeepAlive && !connectionClose;
  return { method, target, path, host, version, buf, fieldOffsets: offsets, contentLength, chunked, keepAlive, expectContinue };
}

/** `s` without leading and trailing OWS: SP and HTAB only (RFC 9110 §5.6.3), never other spaces. */
export function trimOws(s: string): string {
  let a = 0;
  let z = s.length;
  while (a < z && (s.charCodeAt(a) === SP || s.charCodeAt(a) === HTAB)) a++;
  while (z > a && (s.charCodeAt(z - 1) === SP || s.charCodeAt(z - 1) === HTAB)) z--;
  return a === 0 && z === s.length ? s : s.slice(a, z);
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}
