// Response encoding without a socket: the app's Response and a request head in, the head bytes,
// the body plan and the keep-alive decision out.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { findHeadEnd, parseHead } from "./head.ts";
import { blobName, dispositionLine, isBunFile, namesFileFor, parseRange } from "./file-body.ts";
import { BodyKind, completeHead, planResponse, type ResponsePlan } from "./response-encoding.ts";
import { installResponseSource, NativeResponse, sourceOf } from "./response-source.ts";

installResponseSource();

function head(text: string) {
  const buf = Buffer.from(text, "latin1");
  return parseHead(buf, 0, findHeadEnd(buf, 0, 0), { maxHeaderBytes: 8192, maxHeaderCount: 50, maxUrlLength: 1024, maxBodyBytes: 1 << 20 });
}
const GET = head("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
const HEAD = head("HEAD / HTTP/1.1\r\nHost: t\r\n\r\n");
const GET10 = head("GET / HTTP/1.0\r\n\r\n");

/** The head without its Date line, as lines. */
function fields(p: ResponsePlan): string[] {
  return p.head.split("\r\n").filter((l) => !l.startsWith("date: "));
}

describe("planResponse", () => {
  test("a string body: text/plain;charset=utf-8 and its byte length, sent whole", () => {
    const p = planResponse(new Response("héllo"), GET, true);
    expect(fields(p)).toEqual(["HTTP/1.1 200 OK", "content-type: text/plain;charset=utf-8", "content-length: 6", "", ""]);
    expect(p.body).toEqual({ kind: BodyKind.Whole, data: "héllo", length: 6 });
    expect(p.keepAlive).toBe(true);
  });

  test("the default type survives a header set after construction (the XSS case)", () => {
    const r = new Response("<script>");
    r.headers.set("x-powered-by", "x");
    expect(fields(planResponse(r, GET, true))).toContain("content-type: text/plain;charset=utf-8");
  });

  test("bytes: application/octet-stream; empty bodies: no type; the app's type wins", () => {
    expect(fields(planResponse(new Response(new Uint8Array([1, 2])), GET, true))).toContain("content-type: application/octet-stream");
    expect(fields(planResponse(new Response(""), GET, true)).some((l) => l.startsWith("content-type"))).toBe(false);
    const typed = fields(planResponse(new Response("{}", { headers: { "content-type": "application/json" } }), GET, true));
    expect(typed.filter((l) => l.startsWith("content-type"))).toEqual(["content-type: application/json"]);
  });

  test("the body's real length replaces the app's Content-Length, except for HEAD of a null body and 304", () => {
    expect(fields(planResponse(new Response("hi", { headers: { "content-length": "42" } }), GET, true))).toContain("content-length: 2");
    expect(fields(planResponse(new Response(null, { headers: { "content-length": "42" } }), HEAD, true))).toContain("content-length: 42");
    expect(fields(planResponse(new Response(null, { headers: { "content-length": "42" } }), GET, true))).toContain("content-length: 0");
    expect(fields(planResponse(new Response(null, { status: 304, headers: { "content-length": "42" } }), GET, true))).toContain("content-length: 42");
    expect(fields(planResponse(new Response(null, { status: 204 }), GET, true))).toEqual(["HTTP/1.1 204 No Content", "", ""]);
  });

  test("HEAD: the length the body would have, no default type, nothing after the head", () => {
    const p = planResponse(new Response("hello"), HEAD, true);
    expect(fields(p)).toEqual(["HTTP/1.1 200 OK", "content-length: 5", "", ""]);
    expect(p.body.kind).toBe(BodyKind.None);
    const s = planResponse(new Response(new ReadableStream()), HEAD, true);
    expect(fields(s)).toContain("transfer-encoding: chunked");
    expect(s.body.kind).toBe(BodyKind.None);
  });

  test("a stream: framing decided later by completeHead", () => {
    const p = planResponse(new Response(new ReadableStream()), GET, true);
    expect(p.body.kind).toBe(BodyKind.Stream);
    expect(completeHead(p, 3, 11).head.endsWith("content-length: 3\r\n\r\n")).toBe(true);
    expect(completeHead(p, -1, 11)).toMatchObject({ chunked: true, keepAlive: true });
    // HTTP/1.0 has no chunked coding: the end of the connection ends the body.
    const old = completeHead(planResponse(new Response(new ReadableStream()), GET10, true), -1, 10);
    expect(old).toMatchObject({ chunked: false, keepAlive: false });
    expect(old.head.endsWith("connection: close\r\n\r\n")).toBe(true);
  });

  test("keep-alive: HTTP/1.0 says so, Connection: close from the app or the request turns it off", () => {
    expect(planResponse(new Response("x"), GET10, true).head.endsWith("connection: keep-alive\r\n\r\n")).toBe(true);
    const closing = planResponse(new Response("x", { headers: { connection: "close" } }), GET, true);
    expect(closing.keepAlive).toBe(false);
    expect(closing.head.endsWith("connection: close\r\n\r\n")).toBe(true);
    expect(planResponse(new Response("x"), GET, false).keepAlive).toBe(false);
  });

  test("a body taken from another Response's stream is sent from its source, as untyped bytes", () => {
    const first = new Response("hi");
    const p = planResponse(new Response(first.body, first), GET, true);
    expect(p.body).toEqual({ kind: BodyKind.Whole, data: "hi", length: 2 });
    expect(fields(p)).toContain("content-type: application/octet-stream");
  });

  test("a body already read is not sent from its source", async () => {
    const r = new Response("hi");
    await r.clone().text();
    await r.text();
    expect(planResponse(r, GET, true).body.kind).toBe(BodyKind.Stream);
  });

  test("each Set-Cookie on its own line; other repeated fields combined as the Headers object says", () => {
    const h = new Headers();
    h.append("set-cookie", "a=1");
    h.append("set-cookie", "b=2");
    h.append("x-list", "1");
    h.append("x-list", "2");
    const lines = fields(planResponse(new Response("x", { headers: h }), GET, true));
    expect(lines).toContain("set-cookie: a=1");
    expect(lines).toContain("set-cookie: b=2");
    expect(lines).toContain("x-list: 1, 2");
  });

  test("invalid statuses and field values are refused", () => {
    expect(() => planResponse(new Response("x", { headers: { "content-length": "1\r\nx: y" } }), GET, true)).toThrow();
  });

  test("a Bun.file: Content-Length, Content-Disposition for octet-stream, Range (206 / 416)", () => {
    const dir = mkdtempSync(join(tmpdir(), "liveframe-encoding-"));
    try {
      writeFileSync(join(dir, "data.bin"), "0123456789");
      const file = () => new Response(Bun.file(join(dir, "data.bin")));
      const whole = planResponse(file(), GET, true);
      expect(fields(whole)).toContain('content-disposition: filename="data.bin"');
      expect(fields(whole)).toContain("content-length: 10");
      expect(whole.body).toMatchObject({ kind: BodyKind.Blob, start: 0, end: 10 });
      const part = planResponse(file(), head("GET / HTTP/1.1\r\nHost: t\r\nRange: bytes=2-4\r\n\r\n"), true);
      expect(fields(part)[0]).toBe("HTTP/1.1 206 Partial Content");
      expect(fields(part)).toContain("content-range: bytes 2-4/10");
      expect(fields(part)).toContain("content-length: 3");
      expect(part.body).toMatchObject({ kind: BodyKind.Blob, start: 2, end: 5 });
      const none = planResponse(file(), head("GET / HTTP/1.1\r\nHost: t\r\nrange: bytes=10-\r\n\r\n"), true);
      expect(fields(none)[0]).toBe("HTTP/1.1 416 Range Not Satisfiable");
      expect(fields(none)).toContain("content-range: bytes */10");
      expect(none.body.kind).toBe(BodyKind.None);
      // HEAD, If-Range, another status: the whole file, no range.
      expect(fields(planResponse(file(), head("HEAD / HTTP/1.1\r\nHost: t\r\nRange: bytes=2-4\r\n\r\n"), true))[0]).toBe("HTTP/1.1 200 OK");
      expect(fields(planResponse(file(), head("GET / HTTP/1.1\r\nHost: t\r\nRange: bytes=2-4\r\nIf-Range: x\r\n\r\n"), true))[0]).toBe("HTTP/1.1 200 OK");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("file-body rules", () => {
  test("parseRange", () => {
    expect(parseRange("bytes=0-9", 100)).toEqual({ start: 0, end: 10 });
    expect(parseRange("bytes=90-", 100)).toEqual({ start: 90, end: 100 });
    expect(parseRange("bytes=-5", 100)).toEqual({ start: 95, end: 100 });
    expect(parseRange("bytes=-500", 100)).toEqual({ start: 0, end: 100 });
    expect(parseRange("bytes=0-500", 100)).toEqual({ start: 0, end: 100 });
    expect(parseRange("bytes=\t0-1 ", 100)).toEqual({ start: 0, end: 2 });
    for (const v of ["bytes=5-2", "bytes=0-1,5-6", "items=0-1", "bytes=abc", "bytes=1", "bytes=\u00a00-1", "Bytes=0-1"]) expect(parseRange(v, 100)).toBeNull();
    for (const v of ["bytes=100-", "bytes=-0"]) expect(parseRange(v, 100)).toBe("unsatisfiable");
    expect(parseRange("bytes=0-1", 0)).toBe("unsatisfiable");
  });

  test("namesFileFor follows the runtime's mime categories", () => {
    for (const t of ["application/octet-stream", "application/zip", "application/pdf", "application/xml", "application/javascript", "x/y", "TEXT/PLAIN", "nonsense", ""]) {
      expect(namesFileFor(t)).toBe(true);
    }
    for (const t of ["text/plain", "text/html;charset=utf-8", "application/json", "application/geo+json", "application/wasm", "image/png", "font/woff2", "audio/ogg", "video/mp4"]) {
      expect(namesFileFor(t)).toBe(false);
    }
  });

  test("dispositionLine, isBunFile, blobName", () => {
    expect(dispositionLine("/a/b/c.zip")).toBe('content-disposition: filename="c.zip"\r\n');
    expect(isBunFile(Bun.file("/x/y"))).toBe(true);
    expect(isBunFile(new File(["a"], "y"))).toBe(false);
    expect(isBunFile(new Blob(["a"]))).toBe(false);
    expect(blobName(new Blob(["a"]))).toBe("");
  });
});

describe("status line as Bun.serve writes it", () => {
  const line = (res: Response) => {
    const head = planResponse(res, GET, true).head;
    return head.slice(0, head.indexOf("\r\n"));
  };
  test("statusText is ignored: the phrase comes from Bun's table", () => {
    expect(line(new Response("x", { status: 200, statusText: "Fine Thanks" }))).toBe("HTTP/1.1 200 OK");
    expect(line(new Response("x", { status: 418, statusText: "short and stout" }))).toBe("HTTP/1.1 418 I'm a Teapot");
  });
  test("Bun's older names, and names RFC 9110 lacks", () => {
    expect(line(new Response("x", { status: 413 }))).toBe("HTTP/1.1 413 Payload Too Large");
    expect(line(new Response("x", { status: 422 }))).toBe("HTTP/1.1 422 Unprocessable Entity");
    expect(line(new Response("x", { status: 207 }))).toBe("HTTP/1.1 207 Multi-Status");
    expect(line(new Response("x", { status: 226 }))).toBe("HTTP/1.1 226 IM Used");
    expect(line(new Response("x", { status: 511 }))).toBe("HTTP/1.1 511 Network Authentication Required");
    expect(line(new Response(null, { status: 101 }))).toBe("HTTP/1.1 101 Switching protocols");
  });
  test('a code without a name gets "HM"', () => {
    expect(line(new Response("x", { status: 299 }))).toBe("HTTP/1.1 299 HM");
    expect(line(new Response("x", { status: 599 }))).toBe("HTTP/1.1 599 HM");
  });
});

describe("bodies re-wrapped through a stream, clones, HEAD of a Blob (as Bun.serve sends them)", () => {
  const typeOf = (p: ResponsePlan) => fields(p).find((l) => l.startsWith("content-type:")) ?? "(none)";
  test("HTTPException.getResponse: new Response(res.body, { status, headers: res.headers }) is untyped bytes with a Content-Length", () => {
    const res = new Response("Unauthorized", { status: 401, headers: { "www-authenticate": 'Basic realm="x"' } });
    const p = planResponse(new Response(res.body, { status: 401, headers: res.headers }), GET, true);
    expect(typeOf(p)).toBe("content-type: application/octet-stream");
    expect(fields(p)).toContain("content-length: 12");
    expect(p.body).toMatchObject({ kind: BodyKind.Whole, data: "Unauthorized" });
  });
  test("a user's own stream stays a stream, untyped", () => {
    const p = planResponse(new Response(new ReadableStream({ start: (c) => c.close() })), GET, true);
    expect(p.body.kind).toBe(BodyKind.Stream);
  });
  test("Bun.file().stream() and blob.stream(): the Blob's type as the runtime spells it, untyped Blob as bytes", () => {
    const dir = mkdtempSync(join(tmpdir(), "liveframe-encoding-"));
    try {
      writeFileSync(join(dir, "d.json"), '{"a":1}');
      const p = planResponse(new Response(Bun.file(join(dir, "d.json")).stream()), GET, true);
      expect(typeOf(p)).toBe("content-type: application/json;charset=utf-8");
      expect(fields(p)).toContain("content-length: 7");
      expect(typeOf(planResponse(new Response(new Blob(["<p>"], { type: "text/html" }).stream()), GET, true))).toBe("content-type: text/html;charset=utf-8");
      expect(typeOf(planResponse(new Response(new Blob(["hi"]).stream()), GET, true))).toBe("content-type: application/octet-stream");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  test("clone() of a string Response is text/plain like the original", () => {
    expect(typeOf(planResponse(new Response("cloned").clone() as Response, GET, true))).toBe("content-type: text/plain;charset=utf-8");
    expect(Response.prototype.clone.name).toBe("clone");
    expect(String(Response.prototype.clone)).toContain("[native code]");
  });
  test("HEAD of a Blob body: no derived Content-Type, an app-given one stays", () => {
    const blob = () => new Blob(["x"], { type: "text/html" });
    expect(typeOf(planResponse(new Response(blob()), HEAD, true))).toBe("(none)");
    expect(typeOf(planResponse(new Response(blob(), { headers: { "content-type": "image/png" } }), HEAD, true))).toBe("content-type: image/png");
  });
  test("keeping a body's source leaves the Response's shape alone: new Response(null, fileResponse) copies no derived type", () => {
    const dir = mkdtempSync(join(tmpdir(), "liveframe-encoding-"));
    try {
      writeFileSync(join(dir, "x.bin"), "xx");
      const fileRes = new Response(Bun.file(join(dir, "x.bin")));
      expect([...new Response(null, fileRes).headers]).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("URLSearchParams bodies", () => {
  test("sent whole with the runtime's type and length; HEAD leaves the derived type off", () => {
    const p = planResponse(new Response(new URLSearchParams("a=1&b=two words")), GET, true);
    expect(fields(p)).toContain("content-type: application/x-www-form-urlencoded;charset=UTF-8");
    expect(p.body).toMatchObject({ kind: BodyKind.Whole, data: "a=1&b=two+words" });
    const h = fields(planResponse(new Response(new URLSearchParams("a=1")), HEAD, true));
    expect(h.some((l) => l.startsWith("content-type:"))).toBe(false);
    expect(h).toContain("content-length: 3");
    const own = fields(planResponse(new Response(new URLSearchParams("a=1"), { headers: { "content-type": "text/x" } }), HEAD, true));
    expect(own).toContain("content-type: text/x");
  });
});

describe("fields given at construction (checked, not read back, when the Response still holds them)", () => {
  const inits: [string, () => ResponseInit | undefined][] = [
    ["no init", () => undefined],
    ["status only", () => ({ status: 201 })],
    ["headers undefined", () => ({ headers: undefined })],
    ["Hono's c.json", () => ({ status: undefined, headers: { "Content-Type": "application/json" } })],
    ["several", () => ({ headers: { "x-a": "1", "Set-Cookie": "a=b", "content-type": "text/html" } })],
    ["names alike but for case", () => ({ headers: { "X-Dup": "1", "x-dup": "2" } })],
    ["padded value", () => ({ headers: { "x-pad": " \tv w\t " } })],
    ["number value", () => ({ headers: { "x-n": 5 } as unknown as ResponseInit["headers"] })],
    ["inherited field", () => ({ headers: Object.create({ "x-inherited": "1" }) })],
    ["array", () => ({ headers: [["x-a", "1"], ["x-a", "2"]] as ResponseInit["headers"] })],
    ["Headers", () => ({ headers: new Headers({ "x-a": "1" }) })],
    ["getter field", () => ({ headers: { get "x-g"() { return "g"; } } })],
  ];
  const runtimeFields = (r: Response) => {
    const lines: string[] = [];
    (Object.getOwnPropertyDescriptor(NativeResponse.prototype, "headers")!.get!.call(r) as Headers).forEach((v, k) => lines.push(`${k}: ${v}`));
    return lines.sort();
  };
  const sentFields = (p: ResponsePlan) => fields(p).slice(1).filter((l) => l !== "" && !/^(content-length:|content-type: text\/plain;charset=utf-8$|connection:)/.test(l)).sort();

  for (const [name, init] of inits) {
    test(`${name}: the fields sent are the ones the runtime holds`, () => {
      const r = new Response("x", init());
      expect(sentFields(planResponse(r, GET, true))).toEqual(runtimeFields(r).filter((l) => !l.startsWith("content-length")));
    });
  }

  test("fields are taken only from plain data (no getter read twice, no Proxy, no number); a change after construction is sent", () => {
    expect(sourceOf(new Response("x", { headers: { "x-a": "1" } }))!.fields).toEqual(["x-a", "1"]);
    expect(sourceOf(new Response("x"))!.fields).toEqual([]);
    // A getter field is read once: by the engine when it reads the init for the runtime (a string
    // body), else by the runtime alone, and then the fields are the runtime's to read back.
    expect(sourceOf(new Response("x", { headers: { get "x-g"() { return "g"; } } }))!.fields).toEqual(["x-g", "g"]);
    expect(sourceOf(new Response(new Uint8Array(1), { headers: { get "x-g"() { return "g"; } } }))!.fields).toBeUndefined();
    expect(sourceOf(new Response("x", { headers: { "x-a": "1", get "x-g"() { return "g"; } } }))!.fields).toBeUndefined();
    expect(sourceOf(new Response("x", { headers: new Proxy({ "x-p": "p" }, {}) }))!.fields).toBeUndefined();
    expect(sourceOf(new Response("x", new Proxy({ headers: { "x-p": "p" } }, {})))!.fields).toBeUndefined();
    for (const change of [(h: Headers) => h.append("x-b", "2"), (h: Headers) => h.delete("x-a"), (h: Headers) => h.set("x-a", "3")]) {
      const s = new Response("<b>", { headers: { "x-a": "1", "content-type": "text/html" } });
      change(s.headers);
      expect(sentFields(planResponse(s, GET, true))).toEqual(runtimeFields(s));
    }
  });

  test("the init's getters and Proxy traps run as with the runtime's own constructor: the same ones, as often, in the same order", () => {
    const trace = (make: (body: unknown, init: ResponseInit) => unknown) => {
      const seen: string[] = [];
      const handler = (tag: string): ProxyHandler<object> => ({
        get: (t, k, r) => (seen.push(`${tag} get ${String(k)}`), Reflect.get(t, k, r)),
        has: (t, k) => (seen.push(`${tag} has ${String(k)}`), Reflect.has(t, k)),
        ownKeys: (t) => (seen.push(`${tag} ownKeys`), Reflect.ownKeys(t)),
        getOwnPropertyDescriptor: (t, k) => (seen.push(`${tag} gopd ${String(k)}`), Reflect.getOwnPropertyDescriptor(t, k)),
        getPrototypeOf: (t) => (seen.push(`${tag} proto`), Reflect.getPrototypeOf(t)),
      });
      const getters = (tag: string) => ({
        get headers() { seen.push(`${tag} headers`); return { get "x-g"() { seen.push(`${tag} x-g`); return "g"; } }; },
        get status() { seen.push(`${tag} status`); return 201; },
        get statusText() { seen.push(`${tag} statusText`); return "Made"; },
        get method() { seen.push(`${tag} method`); return "GET"; },
      });
      for (const body of ["x", null, new Uint8Array([1])]) {
        make(body, getters("init"));
        make(body, { status: 202, headers: { get "x-one"() { seen.push("one"); return "1"; } } });
        make(body, { headers: { "x-a": "1", get "x-b"() { seen.push("b"); return "2"; } } });
        make(body, { headers: new Proxy({ "x-p": "p" }, handler("headers")) });
        make(body, new Proxy({ status: 203, headers: { "x-q": "q" } }, handler("init")) as ResponseInit);
        make(body, { headers: Object.assign(Object.create({ "x-inherited": "1" }), { "x-own": "2" }) });
        const iterable = { "x-i": "1", *[Symbol.iterator]() { seen.push("iterated"); yield ["x-from-iterator", "1"]; } };
        make(body, { headers: iterable as unknown as ResponseInit["headers"] });
      }
      return seen;
    };
    const ours = trace((body, init) => new Response(body as ConstructorParameters<typeof Response>[0], init));
    const runtime = trace((body, init) => new NativeResponse(body as ConstructorParameters<typeof Response>[0], init));
    expect(runtime.length).toBeGreaterThan(20);
    expect(ours).toEqual(runtime);
  });

  test("a field given again is the runtime's own after construction, whatever happens to the first Response", () => {
    const first = new Response("a", { headers: { "Content-Type": "application/json" } });
    const second = new Response("b", { headers: { "Content-Type": "application/json" } });
    first.headers.set("content-type", "text/html");
    const third = new Response("c", { headers: { "Content-Type": "application/json" } });
    for (const r of [first, second, third]) expect(sentFields(planResponse(r, GET, true))).toEqual(runtimeFields(r));
    expect(runtimeFields(third)).toEqual(["content-type: application/json"]);
    expect(runtimeFields(first)).toEqual(["content-type: text/html"]);
  });
});

describe("a Response sent once (the runtime marks its body used; Bun.serve answers a second send with 500)", () => {
  const used = (r: Response, req = GET) => {
    try {
      planResponse(r, req, true);
      return "sent";
    } catch (err) {
      return (err as TypeError & { code?: string }).code ?? String(err);
    }
  };
  test("a body with bytes in it goes once; a HEAD marks it too, and a HEAD of a used one announces an empty body", () => {
    for (const make of [() => new Response("hi"), () => new Response(new Uint8Array([1])), () => new Response(new Blob(["abc"], { type: "text/x-foo" }))]) {
      const r = make();
      expect([used(r), used(r)]).toEqual(["sent", "ERR_BODY_ALREADY_USED"]);
      const h = make();
      expect([used(h, HEAD), used(h), used(h, HEAD)]).toEqual(["sent", "ERR_BODY_ALREADY_USED", "sent"]);
      expect(fields(planResponse(h, HEAD, true))).toEqual(["HTTP/1.1 200 OK", "content-length: 0", "", ""]);
    }
    // An empty Blob: a GET marks it, a HEAD does not.
    const e = new Response(new Blob([]));
    expect([used(e, HEAD), used(e, HEAD), used(e), used(e)]).toEqual(["sent", "sent", "sent", "ERR_BODY_ALREADY_USED"]);
  });

  test("null and empty bodies, and statuses without a body, can be sent again", () => {
    for (const make of [() => new Response(null), () => new Response(""), () => new Response("x", { status: 304 }), () => new Response(null, { status: 204 })]) {
      const r = make();
      expect([used(r), used(r), used(r)]).toEqual(["sent", "sent", "sent"]);
    }
  });

  test("a clone is sent on its own: each of the two goes once", () => {
    const a = new Response("xy");
    const b = a.clone() as Response;
    expect([used(a), used(b), used(a), used(b)]).toEqual(["sent", "sent", "ERR_BODY_ALREADY_USED", "ERR_BODY_ALREADY_USED"]);
  });
});
