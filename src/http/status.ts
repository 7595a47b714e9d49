// Reason phrases for the status line, as Bun.serve writes them (measured on Bun 1.4.5 for every
// code 100-999, see status.test.ts): Bun ignores the Response's statusText and takes the phrase
// from its own table, which follows the older RFC 7231 names in places ("Payload Too Large",
// "Unprocessable Entity", "I'm a Teapot", "Switching protocols"), and writes "HM" for every code
// it has no name for. The Response constructor only lets 101 and 200-599 through.
const REASONS: Record<number, string> = {
  100: "Continue", 101: "Switching protocols", 200: "OK", 201: "Created", 202: "Accepted",
  203: "Non-Authoritative Information", 204: "No Content", 205: "Reset Content", 206: "Partial Content",
  207: "Multi-Status", 208: "Already Reported", 226: "IM Used",
  300: "Multiple Choices", 301: "Moved Permanently", 302: "Found", 303: "See Other", 304: "Not Modified",
  305: "Use Proxy", 306: "Switch Proxy", 307: "Temporary Redirect", 308: "Permanent Redirect",
  400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden", 404: "Not Found",
  405: "Method Not Allowed", 406: "Not Acceptable", 407: "Proxy Authentication Required",
  408: "Request Timeout", 409: "Conflict", 410: "Gone", 411: "Length Required", 412: "Precondition Failed",
  413: "Payload Too Large", 414: "URI Too Long", 415: "Unsupported Media Type", 416: "Range Not Satisfiable",
  417: "Expectation Failed", 418: "I'm a Teapot", 421: "Misdirected Request", 422: "Unprocessable Entity",
  423: "Locked", 424: "Failed Dependency", 425: "Too Early", 426: "Upgrade Required",
  428: "Precondition Required", 429: "Too Many Requests", 431: "Request Header Fields Too Large",
  451: "Unavailable For Legal Reasons",
  500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable",
  504: "Gateway Timeout", 505: "HTTP Version Not Supported", 506: "Variant Also Negotiates",
  507: "Insufficient Storage", 508: "Loop Detected", 510: "Not Extended", 511: "Network Authentication Required",
};
/** Bun.serve's phrase for a code it has no name for. */
const UNNAMED = "HM";

const FIRST = 100;
const LAST = 999;
/** "HTTP/1.1 200 OK\r\n" for every code 100-999, built once: a status line costs one array read. */
const LINES: string[] = [];
for (let s = FIRST; s <= LAST; s++) LINES[s - FIRST] = `HTTP/1.1 ${s} ${REASONS[s] ?? UNNAMED}\r\n`;

/** The status line for `status` (100-999; the caller checked the range). */
export function statusLine(status: number): string {
  return LINES[status - FIRST]!;
}

/** The reason phrase Bun.serve writes for `status` (tests and tools). */
export function reasonPhrase(status: number): string {
  return REASONS[status] ?? UNNAMED;
}
