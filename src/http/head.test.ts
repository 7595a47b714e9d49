import { describe, expect, test } from "bun:test";
import { HttpError } from "./errors.ts";
import { checkIncompleteHead, findHeadEnd, headFields, KNOWN_METHODS, knownMethod, parseHead, skipLeadingEmptyLines, trimOws, type HeadLimits } from "./head.ts";

const limits: HeadLimits = { maxHeaderBytes: 4096, maxHeaderCount: 20, maxUrlLength: 256, maxBodyBytes: 1000 };

function parse(text: string, l: HeadLimits = limits) {
  const buf = Buffer.from(text, "latin1");
  const start = skipLeadingEmptyLines(buf, 0, buf.length);
  const end = findHeadEnd(buf, start, start);
  if (end < 0) throw new Error("test case has no complete head");
  return parseHead(buf, start, end, l);
}

function statusOf(text: string, l: HeadLimits = limits): number {
  try {
    parse(text, l);
    return 0;
  } catch (e) {
    if (e instanceof HttpError) return e.status;
    throw e;
  }
}

describe("valid request heads", () => {
  const cases: [string, string, Partial<ReturnType<typeof parse>>][] = [
    ["simple GET", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", { method: "GET", path: "/", host: "a", version: 11, keepAlive: true, contentLength: -1, chunked: false }],
    ["query kept", "GET /p?q=1&r=%20 HTTP/1.1\r\nHost: a:8080\r\n\r\n", { path: "/p?q=1&r=%20", host: "a:8080" }],
    ["HTTP/1.0 closes by default", "GET / HTTP/1.0\r\n\r\n", { version: 10, keepAlive: false, host: "localhost" }],
    ["HTTP/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", { keepAlive: true }],
    ["Connection: close", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", { keepAlive: false }],
    ["Connection list with close", "GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade, CLOSE\r\n\r\n", { keepAlive: false }],
    ["Content-Length", "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n", { contentLength: 12 }],
    ["chunked", "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", { chunked: true }],
    ["chunked, case and OWS", "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:  Chunked \r\n\r\n", { chunked: true }],
    ["Expect 100-continue", "POST /x HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n", { expectContinue: true }],
    ["absolute-form: Host names the host, as under Bun.serve", "GET http://example.com:81/a?b HTTP/1.1\r\nHost: other\r\n\r\n", { host: "other", path: "/a?b" }],
    ["absolute-form with a bad port: authority ignored", "GET http://a:99999/ HTTP/1.1\r\nHost: b\r\n\r\n", { host: "b", path: "/" }],
    ["absolute-form with userinfo: authority ignored", "GET http://u@h/ HTTP/1.1\r\nHost: h\r\n\r\n", { host: "h", path: "/" }],
    ["absolute-form in HTTP/1.0 without Host: the authority", "GET http://Example.com:80/x HTTP/1.0\r\n\r\n", { host: "example.com", path: "/x" }],
    ["absolute-form in HTTP/1.0, invalid authority, no Host", "GET http://a:b:c/x HTTP/1.0\r\n\r\n", { host: "localhost", path: "/x" }],
    ["Host normalized like the URL parser", "GET / HTTP/1.1\r\nHost: EXAMPLE.com:80\r\n\r\n", { host: "example.com" }],
    ["Host with a percent-encoded octet", "GET / HTTP/1.1\r\nHost: a%41\r\n\r\n", { host: "aa" }],
    ["Host IPv6 with default port", "GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", { host: "[::1]" }],
    ["Connection: close with OWS", "GET / HTTP/1.1\r\nHost: a\r\nConnection: foo,\tclose \r\n\r\n", { keepAlive: false }],
    ["Connection: close\\xa0 is not close", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\xa0\r\n\r\n", { keepAlive: true }],
    ["Connection: \\xa0close in a list is not close", "GET / HTTP/1.1\r\nHost: a\r\nConnection: foo,\xa0close\r\n\r\n", { keepAlive: true }],
    ["Connection: keep-alive\\xa0 in HTTP/1.0 is not keep-alive", "GET / HTTP/1.0\r\nConnection: keep-alive\xa0\r\n\r\n", { keepAlive: false }],
    ["TE with trailing tab", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\t\r\n\r\n", { chunked: true }],
    ["TE with empty list elements", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , chunked ,\r\n\r\n", { chunked: true }],
    ["header value keeps obs-text at its ends", "GET / HTTP/1.1\r\nHost: a\r\nX: \xa0v\xa0\r\n\r\n", {}],
    ["absolute-form without path", "GET https://example.com HTTP/1.1\r\nHost: x\r\n\r\n", { host: "x", path: "/" }],
    ["fragment kept (as Bun.serve does)", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", { path: "/a#b" }],
    ["leading empty line ignored", "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", { method: "GET" }],
    ["extension method", "PURGE /c HTTP/1.1\r\nHost: a\r\n\r\n", { method: "PURGE" }],
    ["empty Host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", { host: "localhost" }],
    ["IPv6 Host", "GET / HTTP/1.1\r\nHost: [::1]:3000\r\n\r\n", { host: "[::1]:3000" }],
    ["obs-text in value", "GET / HTTP/1.1\r\nHost: a\r\nX: caf\xe9\r\n\r\n", {}],
    ["tab in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\tb\r\n\r\n", {}],
    ["Content-Length with leading zeros", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0000000000000005\r\n\r\n", { contentLength: 5 }],
    ["Host with an empty port", "GET / HTTP/1.1\r\nHost: a:\r\n\r\n", { host: "a" }],
  ];
  for (const [name, text, expected] of cases) {
    test(name, () => {
      expect(parse(text)).toMatchObject(expected);
    });
  }

  test("trimOws strips SP and HTAB only", () => {
    expect(trimOws(" \tchunked\t ")).toBe("chunked");
    expect(trimOws("\xa0chunked\xa0")).toBe("\xa0chunked\xa0");
    expect(trimOws("\u2003x\u3000")).toBe("\u2003x\u3000");
    expect(trimOws("")).toBe("");
    expect(trimOws(" \t ")).toBe("");
  });

  test("obs-text at a value's ends is kept, as Bun.serve keeps it", () => {
    const h = parse("GET / HTTP/1.1\r\nHost: a\r\nX: \xa0v\xe9\xa0 \r\n\r\n");
    expect(headFields(h)).toEqual(["Host", "a", "X", "\xa0v\xe9\xa0"]);
  });

  test("fields keep order, names as sent, values without OWS", () => {
    const h = parse("GET / HTTP/1.1\r\nHost: a\r\nX-One:  1  \r\nx-two:2\r\n\r\n");
    expect(headFields(h)).toEqual(["Host", "a", "X-One", "1", "x-two", "2"]);
  });
});

describe("rejected request heads", () => {
  const cases: [string, string, number, HeadLimits?][] = [
    ["obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n  2\r\n\r\n", 400],
    ["space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400],
    ["tab before colon", "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400],
    ["NUL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", 400],
    ["bare CR in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400],
    ["bare LF in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\nb\r\n\r\n", 400],
    ["control char in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n", 400],
    ["DEL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n", 400],
    ["no colon", "GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400],
    ["empty name", "GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n", 400],
    ["bad char in name", "GET / HTTP/1.1\r\nHost: a\r\nX(y): v\r\n\r\n", 400],
    ["missing Host on 1.1", "GET / HTTP/1.1\r\n\r\n", 400],
    ["two Host fields", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400],
    ["bad Host", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400],
    ["Host with space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400],
    ["Host with two colons", "GET / HTTP/1.1\r\nHost: a:b:c\r\n\r\n", 400],
    ["Host port out of range", "GET / HTTP/1.1\r\nHost: a:99999\r\n\r\n", 400],
    ["Host bad IP-literal", "GET / HTTP/1.1\r\nHost: [zz]\r\n\r\n", 400],
    ["chunked with a parameter", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;x=1\r\n\r\n", 400],
    ["CL with 16 significant digits", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000000000000\r\n\r\n", 400],
    ["bad method char", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400],
    ["lowercase version", "GET / http/1.1\r\nHost: a\r\n\r\n", 400],
    ["two spaces", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400],
    ["missing target", "GET HTTP/1.1\r\nHost: a\r\n\r\n", 400],
    ["relative target", "GET foo HTTP/1.1\r\nHost: a\r\n\r\n", 400],
    ["asterisk-form OPTIONS (Bun.serve refuses it too)", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 400],
    ["non-ASCII in target", "GET /caf\xe9 HTTP/1.1\r\nHost: a\r\n\r\n", 400],
    ["asterisk for GET", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400],
    ["absolute-form with another scheme", "GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400],
    ["absolute-form with one slash", "GET http:/h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400],
    ["TE chunked\\xa0", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\xa0\r\n\r\n", 400],
    ["TE \\xa0chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \xa0chunked\r\n\r\n", 400],
    ["TE gzip\\xa0, chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\xa0, chunked\r\n\r\n", 400],
    ["TE chunked\\xa0 in a second field", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\xa0\r\n\r\n", 400],
    ["CL 1\\xa0", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\xa0\r\n\r\n", 400],
    ["CL \\xa01", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \xa01\r\n\r\n", 400],
    ["Expect 100-continue\\xa0", "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\xa0\r\nContent-Length: 1\r\n\r\n", 417],
    ["Host a\\xa0", "GET / HTTP/1.1\r\nHost: a\xa0\r\n\r\n", 400],
    ["bare LF line ending", "GET / HTTP/1.1\nHost: a\r\n\r\n", 400],
    ["trailing junk after version", "GET / HTTP/1.1 x\r\nHost: a\r\n\r\n", 400],
    ["unknown version", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505],
    ["HTTP/0.9-ish version", "GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505],
    ["CONNECT", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 501],
    ["CL and TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400],
    ["duplicate CL same value", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", 400],
    ["conflicting CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400],
    ["CL list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\n", 400],
    ["CL negative", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400],
    ["CL plus sign", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n", 400],
    ["CL hex", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", 400],
    ["CL overflowing", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", 400],
    ["CL over body limit", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n\r\n", 413],
    ["TE not ending in chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400],
    ["TE chunked then gzip", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400],
    ["TE gzip, chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501],
    ["TE chunked twice", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400],
    ["TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400],
    ["TE with vertical tab trick", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \x0bchunked\r\n\r\n", 400],
    ["TE xchunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", 400],
    ["unknown expectation", "GET / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", 417],
    ["target too long", `GET /${"a".repeat(300)} HTTP/1.1\r\nHost: a\r\n\r\n`, 414],
    ["too many fields", `GET / HTTP/1.1\r\nHost: a\r\n${"X: 1\r\n".repeat(25)}\r\n`, 431],
    ["header section too large", `GET / HTTP/1.1\r\nHost: a\r\nX: ${"v".repeat(5000)}\r\n\r\n`, 431],
  ];
  for (const [name, text, status, l] of cases) {
    test(`${name} → ${status}`, () => {
      expect(statusOf(text, l)).toBe(status);
    });
  }
});

describe("methods: exactly the list Bun.serve (and llhttp) accept", () => {
  const method = (m: string) => statusOf(`${m} / HTTP/1.1\r\nHost: a\r\n\r\n`, { ...limits, maxHeaderBytes: 65536 });
  for (const m of KNOWN_METHODS) test(`${m} accepted`, () => expect(parse(`${m} / HTTP/1.1\r\nHost: a\r\n\r\n`).method).toBe(m));
  for (const m of ["get", "Get", "post", "FOO", "GETX", "GE", "PRI", "MKWORKSPACE", "GET_PARAMETER", "M-SEARCHX", "G".repeat(5000)]) {
    test(`${m.slice(0, 20)}${m.length > 20 ? `… (${m.length} bytes)` : ""} → 400`, () => expect(method(m)).toBe(400));
  }
  test("the method string is the list's own (no string made per request)", () => {
    expect(parse("PROPFIND / HTTP/1.1\r\nHost: a\r\n\r\n").method).toBe(KNOWN_METHODS.find((m) => m === "PROPFIND")!);
    const b = Buffer.from("UNSUBSCRIBE");
    expect(knownMethod(b, 0, b.length)).toBe("UNSUBSCRIBE");
    expect(knownMethod(b, 0, 5)).toBeNull();
  });
});

describe("incomplete heads", () => {
  const check = (text: string) => {
    const b = Buffer.from(text, "latin1");
    try {
      checkIncompleteHead(b, 0, b.length, limits);
      return 0;
    } catch (e) {
      return (e as HttpError).status;
    }
  };
  test("a partial head within limits waits", () => expect(check("GET /abc HTTP/1.1\r\nHo")).toBe(0));
  test("an endless request line is 414", () => expect(check(`GET /${"a".repeat(400)}`)).toBe(414));
  test("endless header bytes are 431", () => expect(check(`GET / HTTP/1.1\r\nX: ${"a".repeat(5000)}`)).toBe(431));
  test("bare LF line endings are refused at once", () => expect(check("GET / HTTP/1.1\nHost: a\n\n")).toBe(400));
  test("garbage first byte is refused at once", () => expect(check("\x16\x03\x01\x02")).toBe(400));
  test("an unknown method is refused at once", () => expect(check("FOO / HTTP/1.1\r\nHo")).toBe(400));
  test("an endless method is refused after 12 bytes", () => expect(check("G".repeat(12))).toBe(400));
  test("a known method still arriving waits", () => {
    expect(check("UNSUBSCRIB")).toBe(0);
    expect(check("GET")).toBe(0);
    expect(check("GET /")).toBe(0);
  });
  test("findHeadEnd resumes a scan", () => {
    const b = Buffer.from("GET / HTTP/1.1\r\nHost: a\r\n\r\nrest");
    expect(findHeadEnd(b, 0, 20)).toBe(b.length - 4);
    expect(findHeadEnd(b.subarray(0, 20), 0, 0)).toBe(-1);
  });
});
