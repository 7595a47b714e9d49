// request.url as Bun.serve and the WHATWG URL parser make it: dot segments removed ("%2e" counts
// as "."), "\" read as "/", and the characters the parser percent-encodes encoded. Apps match
// routes and auth rules on this URL, so "/x/../admin" must be "/admin" here exactly as it is for
// the real Request it may later become (RFC 3986 §5.2.4); otherwise "/admin/*" guards are bypassed.

/** Characters that never change in a path or query: letters, digits, "-._~!$&()*+,;=:@/%". */
const PLAIN = new Uint8Array(128);
for (const c of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&()*+,;=:@/%?") PLAIN[c.charCodeAt(0)] = 1;

const BASE = "http://h";

/**
 * The path and query of an origin-form target ("/a?b") as the URL parser leaves them, or null
 * when the parser refuses it. Asterisk-form ("*", OPTIONS only) becomes "/*".
 */
export function normalizePath(path: string): string | null {
  if (needsParser(path)) {
    if (path === "*") return "/*";
    // Prefixed with an authority so "//x" stays a path and never becomes a host.
    if (!URL.canParse(BASE + path)) return null;
    return new URL(BASE + path).href.slice(BASE.length);
  }
  return path;
}

/** Fast check: only plain characters, no "." segment or "%2e" before the query, no "\". */
function needsParser(path: string): boolean {
  const n = path.length;
  if (n === 0 || path.charCodeAt(0) !== 0x2f /* / */) return true;
  let i = 0;
  for (; i < n; i++) {
    const c = path.charCodeAt(i);
    if (c >= 128 || PLAIN[c] === 0) return true;
    if (c === 0x3f /* ? */) break;
    if (c === 0x2e /* . */ && path.charCodeAt(i - 1) === 0x2f) return true;
    if (c === 0x25 /* % */ && path.charCodeAt(i + 1) === 0x32 && (path.charCodeAt(i + 2) | 0x20) === 0x65) return true;
  }
  for (i++; i < n; i++) {
    const c = path.charCodeAt(i);
    if (c >= 128 || PLAIN[c] === 0) return true;
  }
  return false;
}
