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
  /** origin-form path and query ("/a?b"); "*" for asterisk-form. */
  path: string;
  /** The authority requests are addressed to: the absolute-form target's, else the Host field. */
  host: string;
  /** 10 or 11: HTTP/1.0 or HTTP/1.1. */
  version: number;
  /** Header fields in arrival order, flat: name, value, name, value … (names as sent). */
  fields: string[];
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
  // A bare LF can never become the CRLFCRLF we wait for: refuse now, not at the timeout.
  for (let i = buf.indexOf(LF, start); i >= 0 && i < end; i = buf.indexOf(LF, i + 1)) {
    if (i === start || buf[i - 1] !== CR) throw new HttpError(400, "bare LF in request head");
  }
}

/** Parses buf[start, end) where end is just past the CRLFCRLF. Throws HttpError when invalid. */
export function parseHead(buf: Buffer, start: number, end: number, limits: HeadLimits): RequestHead {
  if (end - start > limits.maxHeaderBytes) throw new HttpError(431, "request header section too large");
  const s = buf.toString("latin1", start, end);
  const n = s.length;

  // --- request-line = method SP request-target SP HTTP-version CRLF
  let i = 0;
  while (i < n && TCHAR[s.charCodeAt(i)]) i++;
  if (i === 0 || s.charCodeAt(i) !== SP) throw new HttpError(400, "malformed request line: bad method");
  const method = s.slice(0, i);
  const targetStart = ++i;
  for (;;) {
    const c = s.charCodeAt(i);
    if (c === SP) break;
    // Visible ASCII only; a fragment never travels in a request target.
    if (c <= 0x20 || c >= 0x7f || c === 0x23) {
      if (i - targetStart > limits.maxUrlLength) throw new HttpError(414, "request target too long");
      throw new HttpError(400, "malformed request line: bad request target");
    }
    i++;
  }
  if (i === targetStart) throw new HttpError(400, "malformed request line: empty request target");
  if (i - targetStart > limits.maxUrlLength) throw new HttpError(414, "request target too long");
  const target = s.slice(targetStart, i);
  i++;
  const lineEnd = s.indexOf("\r\n", i);
  const versionText = s.slice(i, lineEnd);
  let version: number;
  if (versionText === "HTTP/1.1") version = 11;
  else if (versionText === "HTTP/1.0") version = 10;
  else if (/^HTTP\/[0-9]\.[0-9]$/.test(versionText)) throw new HttpError(505, `HTTP version ${versionText.slice(5)} not supported`);
  else throw new HttpError(400, "malformed request line: bad HTTP version");
  i = lineEnd + 2;

  // --- header fields: field-name ":" OWS field-value OWS CRLF
  const fields: string[] = [];
  let host: string | undefined;
  let contentLength = -1;
  let te: string | undefined;
  let connectionClose = false;
  let connectionKeepAlive = false;
  let expectContinue = false;
  const last = n - 2; // the final CRLF of the empty line
  while (i < last) {
    const nameStart = i;
    let c = s.charCodeAt(i);
    if (c === SP || c === HTAB) throw new HttpError(400, "obsolete line folding is not accepted");
    while (TCHAR[c]) c = s.charCodeAt(++i);
    if (c !== COLON) {
      if (c === SP || c === HTAB) throw new HttpError(400, "whitespace between header field name and colon");
      throw new HttpError(400, "malformed header field name");
    }
    if (i === nameStart) throw new HttpError(400, "empty header field name");
    const name = s.slice(nameStart, i);
    c = s.charCodeAt(++i);
    while (c === SP || c === HTAB) c = s.charCodeAt(++i);
    const valueStart = i;
    let valueEnd = i;
    for (;;) {
      if (c === CR) {
        if (s.charCodeAt(i + 1) !== LF) throw new HttpError(400, "bare CR in header field");
        break;
      }
      if (c === SP || c === HTAB) {
        // trailing OWS is not part of the value
      } else if (c < 0x20 || c === 0x7f) {
        throw new HttpError(400, c === 0 ? "NUL in header field value" : c === LF ? "bare LF in header field" : "control character in header field value");
      } else valueEnd = i + 1;
      c = s.charCodeAt(++i);
    }
    const value = s.slice(valueStart, valueEnd);
    i += 2;
    fields.push(name, value);
    if (fields.length > limits.maxHeaderCount * 2) throw new HttpError(431, "too many header fields");

    switch (name.length) {
      case 4:
        if (name.toLowerCase() === "host") {
          if (host !== undefined) throw new HttpError(400, "more than one Host header field");
          for (let k = 0; k < value.length; k++) {
            if (!HOSTCHAR[value.charCodeAt(k)]) throw new HttpError(400, "invalid Host header field");
          }
          host = value;
        }
        break;
      case 6:
        if (name.toLowerCase() === "expect") {
          if (value.toLowerCase() === "100-continue") expectContinue = true;
          else throw new HttpError(417, `unsupported expectation "${value}"`);
        }
        break;
      case 10:
        if (name.toLowerCase() === "connection") {
          for (const token of value.split(",")) {
            const t = token.trim().toLowerCase();
            if (t === "close") connectionClose = true;
            else if (t === "keep-alive") connectionKeepAlive = true;
          }
        }
        break;
      case 14:
        if (name.toLowerCase() === "content-length") {
          if (contentLength !== -1) throw new HttpError(400, "more than one Content-Length");
          if (!/^[0-9]{1,15}$/.test(value)) throw new HttpError(400, "invalid Content-Length");
          contentLength = Number(value);
        }
        break;
      case 17:
        if (name.toLowerCase() === "transfer-encoding") te = te === undefined ? value : `${te}, ${value}`;
        break;
    }
  }

  // --- target form and authority (RFC 9112 §3.2)
  let path = target;
  const first = target.charCodeAt(0);
  if (first === 0x2f /* / */) {
    // origin-form
  } else if (target === "*") {
    if (method !== "OPTIONS") throw new HttpError(400, "asterisk-form target is only for OPTIONS");
  } else if (method === "CONNECT") {
    throw new HttpError(501, "CONNECT is not supported");
  } else {
    const m = /^https?:\/\/([^/?@]*)([/?].*)?$/i.exec(target);
    if (!m) throw new HttpError(400, "malformed request target");
    const authority = m[1]!;
    if (authority === "") throw new HttpError(400, "absolute-form target without a host");
    for (let k = 0; k < authority.length; k++) {
      if (!HOSTCHAR[authority.charCodeAt(k)]) throw new HttpError(400, "invalid host in request target");
    }
    const rest = m[2] ?? "/";
    path = rest.charCodeAt(0) === 0x3f /* ? */ ? `/${rest}` : rest;
    if (version === 11 && host === undefined) throw new HttpError(400, "missing Host header field");
    host = authority;
  }
  if (host === undefined) {
    if (version === 11) throw new HttpError(400, "missing Host header field");
    host = "localhost";
  } else if (host === "") {
    host = "localhost";
  }

  // --- message body framing (RFC 9112 §6)
  let chunked = false;
  if (te !== undefined) {
    if (contentLength !== -1) throw new HttpError(400, "both Content-Length and Transfer-Encoding");
    if (version === 10) throw new HttpError(400, "Transfer-Encoding in an HTTP/1.0 request");
    const codings = te
      .split(",")
      .map((t) => t.split(";")[0]!.trim().toLowerCase())
      .filter((t) => t !== "");
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
  return { method, target, path, host, version, fields, contentLength, chunked, keepAlive, expectContinue };
}
