// Hostile clients stay bounded, and what they can make an app observe is what Bun.serve shows:
// the same bytes go to liveframe's serve() and to Bun.serve in the same test (issue 8, items 7–10
// of "Why": OWS-only trimming, the method list, the chunk-extension budget, absolute-form URLs).
import { afterAll, describe, expect, test } from "bun:test";
import { serve, type HttpServer } from "../src/http/index.ts";
import { RawClient } from "./http-support.ts";

/** Echoes what an app can see of the request, so both servers' answers compare as strings. */
const app = {
  async fetch(req: Request) {
    const body = await req.text();
    const x = req.headers.get("x");
    return Response.json({
      method: req.method,
      url: req.url,
      te: req.headers.get("transfer-encoding"),
      x: x === null ? null : [...x].map((ch) => ch.charCodeAt(0)),
      body,
    });
  },
};

const liveframe: HttpServer = serve(app, { port: 0, hostname: "127.0.0.1" });
const bun = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: app.fetch });
const clients: RawClient[] = [];
afterAll(async () => {
  for (const c of clients) if (!c.closed) c.socket.terminate();
  await liveframe.stop({ graceful: false });
  bun.stop(true);
});

interface Answer {
  /** Status of the first response, or "closed" when the server hung up without one. */
  status: number | "closed";
  body: string;
  /** Statuses of every response read before the server closed (or stopped answering). */
  statuses: (number | "closed")[];
}

/** Sends `wire` and reads up to `expect` responses; a close without an answer is "closed". */
async function answer(port: number, wire: string | Buffer, responses = 1): Promise<Answer> {
  const c = await RawClient.connect(port);
  clients.push(c);
  c.write(typeof wire === "string" ? Buffer.from(wire, "latin1") : wire);
  const statuses: (number | "closed")[] = [];
  let body = "";
  for (let k = 0; k < responses; k++) {
    try {
      const r = await c.response();
      statuses.push(r.status);
      if (k === 0) body = r.body.toString("latin1");
    } catch {
      statuses.push("closed");
      break;
    }
  }
  c.socket.terminate();
  return { status: statuses[0]!, body, statuses };
}

const both = (wire: string | Buffer, responses = 1) =>
  Promise.all([answer(liveframe.port, wire, responses), answer(Number(bun.port), wire, responses)]);

describe("OWS is SP and HTAB only (String#trim strips U+00A0)", () => {
  const post = (te: string) => `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ${te}\r\n\r\n0\r\n\r\n`;
  for (const [name, wire] of [
    ["Transfer-Encoding: chunked\\xa0", post("chunked\xa0")],
    ["Transfer-Encoding: \\xa0chunked", post("\xa0chunked")],
    ["Content-Length: 1\\xa0", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\xa0\r\n\r\nx"],
  ] as const) {
    test(`${name}: 400 on both`, async () => {
      const [lf, b] = await both(wire);
      expect([lf.status, b.status]).toEqual([400, 400]);
    });
  }

  for (const [name, te] of [["trailing tab", "chunked\t"], ["trailing space", "chunked "], ["upper case", "CHUNKED"]] as const) {
    test(`Transfer-Encoding with ${name} is chunked on both`, async () => {
      const [lf, b] = await both(post(te));
      expect(lf.status).toBe(200);
      expect(lf.body).toBe(b.body);
    });
  }

  const twoRequests = (connection: string) =>
    `GET / HTTP/1.1\r\nHost: a\r\nConnection: ${connection}\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n`;
  for (const [connection, closes] of [
    ["close\xa0", false],
    ["foo, close\xa0", false],
    ["foo,\xa0close", false],
    ["foo,\tclose", true],
    ["close ", true],
  ] as const) {
    test(`Connection: ${JSON.stringify(connection)} ${closes ? "closes" : "does not close"} on both`, async () => {
      const [lf, b] = await both(twoRequests(connection), 2);
      expect(b.statuses).toEqual(closes ? [200, "closed"] : [200, 200]);
      expect(lf.statuses).toEqual(b.statuses);
    });
  }

  test("obs-text at a header value's ends reaches the app as under Bun.serve", async () => {
    const [lf, b] = await both("GET / HTTP/1.1\r\nHost: a\r\nX: \xa0v\xe9\xa0 \r\n\r\n");
    expect(JSON.parse(lf.body).x).toEqual([0xa0, 0x76, 0xe9, 0xa0]);
    expect(lf.body).toBe(b.body);
  });
});

describe("methods: the list Bun.serve accepts", () => {
  for (const m of ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND", "M-SEARCH", "QUERY", "UNSUBSCRIBE", "PURGE"]) {
    test(`${m}: accepted by both, same method`, async () => {
      const [lf, b] = await both(`${m} / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n`);
      expect([lf.status, b.status]).toEqual([200, 200]);
      expect(JSON.parse(lf.body).method).toBe(m);
      expect(lf.body).toBe(b.body);
    });
  }
  for (const m of ["get", "Get", "FOO", "GETX", "PRI", "MKWORKSPACE", "G".repeat(5000)]) {
    test(`${m.slice(0, 12)}${m.length > 12 ? `… (${m.length} bytes)` : ""}: Bun.serve hangs up without an answer, liveframe answers 400 (as Node)`, async () => {
      const [lf, b] = await both(`${m} / HTTP/1.1\r\nHost: a\r\n\r\n`);
      expect(b.status).toBe("closed");
      expect(lf.status).toBe(400);
    });
  }
  test("GET_PARAMETER: 400 on both", async () => {
    const [lf, b] = await both("GET_PARAMETER / HTTP/1.1\r\nHost: a\r\n\r\n");
    expect([lf.status, b.status]).toEqual([400, 400]);
  });
  test("an endless method is refused before the header limit", async () => {
    const c = await RawClient.connect(liveframe.port);
    clients.push(c);
    c.write("G".repeat(64)); // no space, no CRLF: only the method can be wrong yet
    const r = await c.response();
    expect(r.status).toBe(400);
    await c.closedByPeer();
  });
});

describe("chunk extensions: bounded per line (as Bun.serve) and per body", () => {
  const head = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";

  test("a normal chunked upload with a few extensions: same answer on both", async () => {
    const wire = `${head}5;a=1\r\nhello\r\n6;sig=abc;b\r\n world\r\n0\r\n\r\n`;
    const [lf, b] = await both(wire);
    expect([lf.status, b.status]).toEqual([200, 200]);
    expect(JSON.parse(lf.body).body).toBe("hello world");
    expect(lf.body).toBe(b.body);
  });

  test("16384 extension bytes on one line: accepted by both; 16385: 413 on both", async () => {
    const line = (n: number) => `${head}1;${"x".repeat(n - 1)}\r\na\r\n0\r\n\r\n`;
    const [lfOk, bOk] = await both(line(16384));
    expect([lfOk.status, bOk.status]).toEqual([200, 200]);
    const [lfBig, bBig] = await both(line(16385));
    expect([lfBig.status, bBig.status]).toEqual([413, 413]);
  });

  test("64 1-byte chunks each padded with 4 KiB: Bun.serve accepts, liveframe answers 413 (extensions outweigh the data)", async () => {
    const wire = `${head}${`1;${"x".repeat(4095)}\r\na\r\n`.repeat(64)}0\r\n\r\n`;
    const [lf, b] = await both(wire);
    expect(b.status).toBe(200);
    expect(lf.status).toBe(413);
  });

  test("1-byte chunks each padded with 4 KiB: liveframe answers 413 and closes long before the body ends", async () => {
    const c = await RawClient.connect(liveframe.port);
    clients.push(c);
    c.write(head);
    const chunk = Buffer.from(`1;${"x".repeat(4095)}\r\na\r\n`);
    // Up to 16 MiB of padding for 4096 body bytes, written while the server has not hung up.
    let sent = 0;
    while (sent < 4096 && !c.ended && !c.closed && c.error === null && c.received.length === 0) {
      c.write(chunk);
      sent++;
      if (sent % 16 === 0) await c.flushed().catch(() => {});
    }
    const r = await c.response();
    expect(r.status).toBe(413);
    await c.closedByPeer();
    // The allowance is 16 KiB beyond the data: refused within a few chunks (plus what was in flight).
    expect(sent).toBeLessThan(4096);
  });
});

describe("absolute-form targets: request.url as Bun.serve makes it", () => {
  const targets = [
    "http://a%41/h", "http://x:/h", "http://[::1]:80/h", "http://EXAMPLE.com/a/../b", "HTTP://a/h", "HtTpS://A/h",
    "http://a:80/h", "https://a:443/h", "http://a:8080/h", "http://a", "http://a?x=1", "http://a/?x=1",
    "http://[::FFFF:127.0.0.1]/h", "http://127.1/h", "http://a./h", "http://a/%2e%2e/b", "http://a/b\\c",
    "http://user@a/h", "http://a:99999/h", "http://a:b/h", "http://[::1/h", "http:///x", "http://",
    "http://a/x/../../y", "http://a/h//x/./y", "http://a/x%2fy", "http://a/h?q=%zz", "//a/x",
    "ftp://a/h", "http:/a/h", "http:a/h", "ws://a/x", "http:\\\\a/x",
  ];
  for (const t of targets) {
    test(JSON.stringify(t), async () => {
      const [lf, b] = await both(`GET ${t} HTTP/1.1\r\nHost: h.example:8080\r\n\r\n`);
      expect(lf.status).toBe(b.status);
      if (b.status === 200) expect(JSON.parse(lf.body).url).toBe(JSON.parse(b.body).url);
    });
  }
  for (const host of ["H:80", "EXAMPLE.com:8080", "a%41", "[::1]:80", "x:", "127.1", "[::FFFF:127.0.0.1]:8080"]) {
    test(`Host: ${host} gives the same request.url`, async () => {
      const [lf, b] = await both(`GET /p?q HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
      expect([lf.status, b.status]).toEqual([200, 200]);
      expect(JSON.parse(lf.body).url).toBe(JSON.parse(b.body).url);
    });
  }
});
