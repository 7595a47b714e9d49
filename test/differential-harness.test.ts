// The differential harness itself: it must see every kind of difference, allow only what its
// table lists, and read responses off the wire correctly (chunked with trailers, interim 100,
// close-delimited). Without this, a differential test that passes could mean a blind harness.
import { afterEach, describe, expect, test } from "bun:test";
import type { TCPSocketListener } from "bun";
import {
  differences,
  encodeRequest,
  exchange,
  unexplained,
  type DiffCase,
  type Exchange,
  type WireResponse,
} from "./support/differential.ts";

const DATE_A = "Mon, 30 Nov 2026 21:00:00 GMT";
const DATE_B = "Mon, 30 Nov 2026 21:00:01 GMT";
const kase: DiffCase = { name: "t", request: { method: "GET", path: "/" } };

function res(fields: [string, string][], body = "hello", over: Partial<WireResponse> = {}): WireResponse {
  return { version: "1.1", status: 200, reason: "OK", fields, body: Buffer.from(body), framing: "length", trailers: [], ...over };
}
function ex(r: WireResponse, over: Partial<Exchange> = {}): Exchange {
  return { requests: [{ method: "GET", version: "1.1" }], interim: [[]], responses: [r], error: null, afterward: "open (probe answered 404)", ...over };
}
const text = (date: string, extra: [string, string][] = []): [string, string][] => [
  ["content-type", "text/plain;charset=utf-8"], ...extra, ["date", date], ["content-length", "5"],
];

describe("comparing", () => {
  test("the same answer at different seconds: no difference", () => {
    expect(differences(kase, ex(res(text(DATE_A))), ex(res(text(DATE_B))))).toEqual([]);
  });

  test("a Date that is not an IMF-fixdate is compared as is", () => {
    const d = differences(kase, ex(res(text("yesterday"))), ex(res(text(DATE_B))));
    expect(d.map((x) => `${x.kind} ${x.detail}`)).toEqual(["header date"]);
  });

  test("a missing Content-Type is a failure", () => {
    const lf = ex(res([["date", DATE_A], ["content-length", "5"]]));
    const d = unexplained(kase, lf, ex(res(text(DATE_A))));
    expect(d.map((x) => `${x.kind} ${x.detail} ${x.liveframe} ${x.bun}`)).toEqual(["header content-type (absent) text/plain;charset=utf-8"]);
  });

  test("Set-Cookie values in another order are a failure; names in another case are allowed", () => {
    const a = res(text(DATE_A, [["set-cookie", "a=1"], ["set-cookie", "b=2"]]));
    const b = res(text(DATE_A, [["Set-Cookie", "b=2"], ["Set-Cookie", "a=1"]]));
    expect(unexplained(kase, ex(a), ex(b)).map((x) => x.kind)).toEqual(["header"]);
    const c = res(text(DATE_A, [["Set-Cookie", "a=1"], ["Set-Cookie", "b=2"]]));
    expect(differences(kase, ex(a), ex(c)).map((x) => x.kind)).toEqual(["header-case"]);
    expect(unexplained(kase, ex(a), ex(c))).toEqual([]);
  });

  test("one changed body byte, status, reason, interim answer and afterward state are each failures", () => {
    expect(unexplained(kase, ex(res(text(DATE_A), "hellp")), ex(res(text(DATE_A)))).map((x) => x.kind)).toEqual(["body"]);
    expect(unexplained(kase, ex(res(text(DATE_A), "hello", { status: 201 })), ex(res(text(DATE_A)))).map((x) => x.kind)).toEqual(["status"]);
    expect(unexplained(kase, ex(res(text(DATE_A), "hello", { reason: "Fine" })), ex(res(text(DATE_A)))).map((x) => x.kind)).toEqual(["reason"]);
    expect(unexplained(kase, ex(res(text(DATE_A)), { interim: [[100]] }), ex(res(text(DATE_A)))).map((x) => x.kind)).toEqual(["interim"]);
    expect(unexplained(kase, ex(res(text(DATE_A)), { afterward: "closed" }), ex(res(text(DATE_A)))).map((x) => x.kind)).toEqual(["afterward"]);
  });

  test("chunked against Content-Length: allowed for a stream body, a failure with strictFraming", () => {
    const chunked = res([["date", DATE_A], ["transfer-encoding", "chunked"]], "hello", { framing: "chunked" });
    const length = res([["date", DATE_A], ["content-length", "5"]]);
    expect(differences(kase, ex(chunked), ex(length)).map((x) => x.kind)).toEqual(["framing"]);
    expect(unexplained(kase, ex(chunked), ex(length))).toEqual([]);
    expect(unexplained({ ...kase, strictFraming: true }, ex(chunked), ex(length)).map((x) => x.kind)).toEqual(["framing"]);
  });

  test("HEAD without the Content-Length Bun.serve sends is a failure", () => {
    const head = { requests: [{ method: "HEAD", version: "1.1" }] };
    const lf = ex(res([["date", DATE_A]], "", { framing: "none" }), head);
    const bun = ex(res([["content-length", "0"]], "", { framing: "none" }), head);
    // Date only on liveframe's side is listed (head-date); the missing Content-Length is not.
    expect(unexplained(kase, lf, bun).map((x) => x.kind)).toEqual(["framing"]);
  });

  test("an engine-refusal's wording may differ, but not an app's 400 that carries a Date", () => {
    const lf = ex(res([["content-type", "text/plain"], ["date", DATE_A], ["content-length", "4"], ["connection", "close"]], "bad\n", { status: 400 }), { afterward: "closed" });
    const bunRefusal = ex(res([["Connection", "close"]], "", { status: 400, framing: "close" }), { afterward: "closed" });
    expect(unexplained(kase, lf, bunRefusal)).toEqual([]);
    const bunApp = ex(res([["Connection", "close"], ["Date", DATE_A], ["Content-Length", "3"]], "app", { status: 400 }), { afterward: "closed" });
    expect(unexplained(kase, lf, bunApp).map((x) => x.kind).sort()).toEqual(["body", "framing", "header"]);
  });
});

describe("encoding requests", () => {
  test("Host first, Content-Length for a body, chunked framing for chunks", () => {
    const a = encodeRequest({ method: "POST", path: "/u", body: "héllo" });
    expect(Buffer.from(a.head).toString("latin1")).toBe("POST /u HTTP/1.1\r\nhost: t\r\ncontent-length: 6\r\n\r\n");
    const b = encodeRequest({ method: "POST", path: "/u", version: "1.0", noHost: true, chunks: ["ab", "", "cde"] });
    expect(Buffer.from(b.head).toString("latin1")).toBe("POST /u HTTP/1.0\r\ntransfer-encoding: chunked\r\n\r\n");
    expect(Buffer.from(b.body).toString("latin1")).toBe("2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n");
  });
});

describe("reading the wire", () => {
  let listener: TCPSocketListener<unknown> | null = null;
  afterEach(() => {
    listener?.stop(true);
    listener = null;
  });

  /** A server that answers every request head with `answer` (then closes if `close`). */
  function fixedServer(answer: string, close = false): number {
    listener = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        data(s, d) {
          if (!d.toString("latin1").includes("\r\n\r\n")) return;
          s.write(answer);
          if (close) s.end();
        },
      },
    });
    return listener.port;
  }

  test("100 Continue, then a chunked answer with a trailer field; the probe finds the connection open", async () => {
    const port = fixedServer("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n");
    const e = await exchange(port, { name: "t", request: { method: "POST", path: "/", body: "x", expectContinue: true } });
    expect(e.error).toBeNull();
    expect(e.interim).toEqual([[100]]);
    expect(e.responses[0]!.framing).toBe("chunked");
    expect(Buffer.from(e.responses[0]!.body).toString()).toBe("abcde");
    expect(e.responses[0]!.trailers).toEqual([["X-T", "1"]]);
    expect(e.afterward).toBe("open (probe answered 200)");
  });

  test("a close-delimited body, then closed", async () => {
    const port = fixedServer("HTTP/1.0 200 OK\r\nX-A:  padded \r\n\r\nuntil the end", true);
    const e = await exchange(port, { name: "t", request: { method: "GET", path: "/", version: "1.0" } });
    expect(e.error).toBeNull();
    expect(e.responses[0]!.fields).toEqual([["X-A", "padded"]]);
    expect(Buffer.from(e.responses[0]!.body).toString()).toBe("until the end");
    expect(e.afterward).toBe("closed");
  });

  test("a server that closes without answering is an error, not a hang", async () => {
    const port = fixedServer("", true);
    const e = await exchange(port, { name: "t", raw: { bytes: "get / HTTP/1.1\r\nHost: t\r\n\r\n" } });
    expect(e.responses).toEqual([]);
    expect(e.error).toStartWith("connection closed");
  });
});
