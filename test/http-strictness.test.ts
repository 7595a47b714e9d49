// The held-out raw-socket cases: the same bytes go to liveframe and to Bun.serve. liveframe must
// reject at least everything Bun.serve rejects, and accept every valid request.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { serve, type HttpServer } from "../src/http/index.ts";
import { RawClient } from "./http-support.ts";

type Outcome = "accepted" | "rejected" | "no answer";

/** How long to wait for an answer before calling it "no answer" (the server waits for more bytes). */
const ANSWER_WAIT_MS = 5000;

const app = {
  async fetch(req: Request) {
    await req.arrayBuffer();
    return new Response("ok");
  },
};

const valid: [string, string][] = [
  ["simple GET", "GET / HTTP/1.1\r\nHost: a\r\n\r\n"],
  ["HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n"],
  ["query string", "GET /a/b?c=d&e=%20 HTTP/1.1\r\nHost: a\r\n\r\n"],
  ["POST with Content-Length", "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"],
  ["POST chunked", "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"],
  ["chunked with extension and trailer", "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n0\r\nT: v\r\n\r\n"],
  ["header value with tab and obs-text", "GET / HTTP/1.1\r\nHost: a\r\nX: a\tb\xe9\r\n\r\n"],
  ["empty header value", "GET / HTTP/1.1\r\nHost: a\r\nX:\r\n\r\n"],
  ["leading CRLF", "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"],
  ["absolute-form", "GET http://a/x HTTP/1.1\r\nHost: a\r\n\r\n"],
  // Bun.serve accepts a fragment in the target (and keeps it in request.url); liveframe does too.
  ["fragment in target", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n"],
  ["many headers", `GET / HTTP/1.1\r\nHost: a\r\n${"X-H: v\r\n".repeat(40)}\r\n`],
  ["Expect 100-continue with body", "POST /p HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi"],
  ["DELETE", "DELETE /x HTTP/1.1\r\nHost: a\r\n\r\n"],
  ["IPv6 host", "GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"],
];

const hostile: [string, string][] = [
  ["obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n"],
  ["space before colon", "GET / HTTP/1.1\r\nHost: a\r\nX : 1\r\n\r\n"],
  ["NUL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n"],
  ["bare CR in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n"],
  ["bare LF in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\nb\r\n\r\n"],
  ["bare LF line endings", "GET / HTTP/1.1\nHost: a\n\n"],
  ["control char in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x07b\r\n\r\n"],
  ["no colon", "GET / HTTP/1.1\r\nHost: a\r\nJunk\r\n\r\n"],
  ["empty field name", "GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n"],
  ["bad char in name", "GET / HTTP/1.1\r\nHost: a\r\nX\"Y: v\r\n\r\n"],
  ["missing Host on 1.1", "GET / HTTP/1.1\r\n\r\n"],
  ["two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"],
  ["Host with slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"],
  ["bad method", "GE\x01T / HTTP/1.1\r\nHost: a\r\n\r\n"],
  ["lowercase HTTP", "GET / http/1.1\r\nHost: a\r\n\r\n"],
  ["double space", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n"],
  ["space in target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"],
  ["relative target", "GET a HTTP/1.1\r\nHost: a\r\n\r\n"],
  ["unknown version", "GET / HTTP/1.2\r\nHost: a\r\n\r\n"],
  ["HTTP/2 version", "GET / HTTP/2.0\r\nHost: a\r\n\r\n"],
  ["garbage", "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n"],
  ["CL + TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"],
  ["TE + CL", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n"],
  ["conflicting CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"],
  ["duplicate CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab"],
  ["CL list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2, 2\r\n\r\nab"],
  ["CL negative", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -2\r\n\r\nab"],
  ["CL with plus", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +2\r\n\r\nab"],
  ["CL huge", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 184467440737095516160\r\n\r\nab"],
  ["TE gzip only", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nab"],
  ["TE chunked, identity", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"],
  ["TE xchunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"],
  ["TE vertical tab", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n"],
  ["TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"],
  ["chunk size not hex", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\nabc\r\n0\r\n\r\n"],
  ["chunk size overflow", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000001\r\na\r\n0\r\n\r\n"],
  ["chunk size 0x", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x2\r\nab\r\n0\r\n\r\n"],
  ["chunk data too long", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n"],
  ["chunk LF only", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\nab\n0\n\n"],
  ["chunk ext with NUL", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2;a\x00\r\nab\r\n0\r\n\r\n"],
  // Bun.serve refuses asterisk-form, even for OPTIONS; an app there never sees it.
  ["OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"],
  ["CONNECT", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n"],
  ["asterisk for GET", "GET * HTTP/1.1\r\nHost: a\r\n\r\n"],
  ["header too large", `GET / HTTP/1.1\r\nHost: a\r\nX: ${"a".repeat(70_000)}\r\n\r\n`],
  ["target too long", `GET /${"a".repeat(70_000)} HTTP/1.1\r\nHost: a\r\n\r\n`],
];

async function outcome(port: number, wire: string): Promise<Outcome> {
  const c = await RawClient.connect(port);
  try {
    c.write(wire);
    try {
      await c.until(() => /^HTTP\/1\.[01] [0-9]{3}/.test(c.received.toString("latin1")), ANSWER_WAIT_MS, "an answer");
    } catch {
      return c.ended || c.closed || c.error ? "rejected" : "no answer";
    }
    let text = c.received.toString("latin1");
    // Skip an interim 100 Continue.
    if (text.startsWith("HTTP/1.1 100")) {
      await c.until(() => /\r\n\r\nHTTP\/1\.[01] [0-9]{3}/.test(c.received.toString("latin1")), ANSWER_WAIT_MS).catch(() => {});
      text = c.received.toString("latin1").slice(c.received.indexOf("\r\n\r\n") + 4);
    }
    const status = Number(text.slice(9, 12));
    return status >= 200 && status < 400 ? "accepted" : "rejected";
  } finally {
    c.socket.terminate();
  }
}

let liveframe: HttpServer;
let bun: ReturnType<typeof Bun.serve>;
beforeAll(() => {
  liveframe = serve(app, { port: 0, hostname: "127.0.0.1" });
  bun = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: app.fetch });
});
afterAll(async () => {
  await liveframe.stop({ graceful: false });
  bun.stop(true);
});

describe("valid requests: both accept", () => {
  for (const [name, wire] of valid) {
    test(name, async () => {
      expect(await outcome(liveframe.port, wire)).toBe("accepted");
    });
  }
});

describe("hostile requests: liveframe rejects at least what Bun.serve rejects", () => {
  for (const [name, wire] of hostile) {
    test(name, async () => {
      const [lf, b] = await Promise.all([outcome(liveframe.port, wire), outcome(Number(bun.port), wire)]);
      if (process.env.LIVEFRAME_STRICTNESS_REPORT) console.log(`${name}\tliveframe=${lf}\tBun.serve=${b}`);
      if (b === "rejected") expect(`${name}: ${lf}`).toBe(`${name}: rejected`);
      // Every case here is invalid per RFC 9112: liveframe must answer it with a rejection,
      // never accept it and never leave the client hanging.
      expect(lf).toBe("rejected");
    });
  }
});
