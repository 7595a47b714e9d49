import { describe, expect, test } from "bun:test";
import { ChunkedBody, FixedLengthBody } from "./body.ts";
import { HttpError } from "./errors.ts";
import { CHUNK_EXTENSION_ALLOWANCE_BYTES } from "./limits.ts";

/** Feeds `wire` to a fresh chunked decoder in pieces of `step` bytes. */
function decodeChunked(wire: string, step = wire.length, maxBody = 1000, maxTrailer = 200) {
  const d = new ChunkedBody(maxBody, maxTrailer);
  const bytes = Buffer.from(wire, "latin1");
  let consumed = 0;
  for (let at = 0; at < bytes.length && !d.done; at += step) {
    const end = Math.min(bytes.length, at + step);
    consumed = d.feed(bytes, at, end);
    if (d.done) break;
    expect(consumed).toBe(end);
  }
  return { done: d.done, body: Buffer.from(d.body()).toString("latin1"), rest: bytes.subarray(consumed).toString("latin1") };
}

function chunkedStatus(wire: string, maxBody = 1000): number {
  try {
    decodeChunked(wire, wire.length, maxBody);
    return 0;
  } catch (e) {
    if (e instanceof HttpError) return e.status;
    throw e;
  }
}

describe("chunked bodies", () => {
  const valid: [string, string, string][] = [
    ["one chunk", "5\r\nhello\r\n0\r\n\r\n", "hello"],
    ["two chunks", "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", "abcde"],
    ["hex size, upper and lower", "A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\n\r\n", "0123456789abcdefghij"],
    ["leading zeros", "005\r\nhello\r\n0000\r\n\r\n", "hello"],
    ["extension", "5;name=value\r\nhello\r\n0;x\r\n\r\n", "hello"],
    ["quoted extension", '5;a="b c"\r\nhello\r\n0\r\n\r\n', "hello"],
    ["BWS before extension", "5 ;a=b\r\nhello\r\n0\r\n\r\n", "hello"],
    ["trailers", "5\r\nhello\r\n0\r\nX-Sum: 1\r\nY: 2\r\n\r\n", "hello"],
    ["empty body", "0\r\n\r\n", ""],
    ["leading zeros beyond 12 digits", "0000000000005\r\nhello\r\n0\r\n\r\n", "hello"],
    ["several extensions with BWS and a quoted-pair", '5;a="x\\"y" ; b = c\r\nhello\r\n0\r\n\r\n', "hello"],
  ];
  for (const [name, wire, body] of valid) {
    test(`${name}, whole`, () => expect(decodeChunked(wire)).toEqual({ done: true, body, rest: "" }));
    test(`${name}, one byte at a time`, () => expect(decodeChunked(wire, 1)).toEqual({ done: true, body, rest: "" }));
  }
  test("stops at the end of the body: the next request stays unconsumed", () => {
    expect(decodeChunked("2\r\nab\r\n0\r\n\r\nGET / HTTP/1.1\r\n")).toEqual({ done: true, body: "ab", rest: "GET / HTTP/1.1\r\n" });
  });

  const invalid: [string, string, number][] = [
    ["no size", "\r\nhello\r\n0\r\n\r\n", 400],
    ["non-hex size", "g\r\nx\r\n0\r\n\r\n", 400],
    ["negative size", "-1\r\nx\r\n0\r\n\r\n", 400],
    ["0x prefix", "0x5\r\nhello\r\n0\r\n\r\n", 400],
    ["overflowing size", "fffffffffffffffff\r\n", 400],
    ["size over body limit", "3e9\r\n", 413],
    ["total over body limit", "200\r\n" + "a".repeat(512) + "\r\n200\r\n" + "a".repeat(512) + "\r\n0\r\n\r\n", 413],
    ["bare LF after size", "5\nhello\r\n0\r\n\r\n", 400],
    ["bare CR after size", "5\rhello\r\n0\r\n\r\n", 400],
    ["data longer than size", "3\r\nhello\r\n0\r\n\r\n", 400],
    ["missing CRLF after data", "5\r\nhello0\r\n\r\n", 400],
    ["LF only after data", "5\r\nhello\n0\r\n\r\n", 400],
    ["control char in extension", "5;a\x00\r\nhello\r\n0\r\n\r\n", 400],
    ["space inside size", "5 5\r\nhello\r\n0\r\n\r\n", 400],
    ["whitespace after size without extension", "5 \r\nhello\r\n0\r\n\r\n", 400],
    ["extension name with a space", '5;a b"c\r\nhello\r\n0\r\n\r\n', 400],
    ["empty extension", "5;\r\nhello\r\n0\r\n\r\n", 400],
    ["unterminated quoted extension", '5;a="b\r\nhello\r\n0\r\n\r\n', 400],
    ["endless leading zeros", `${"0".repeat(100)}5\r\nhello\r\n0\r\n\r\n`, 400],
    ["obs-fold in trailer", "0\r\nX: 1\r\n 2\r\n\r\n", 400],
    ["trailer without colon", "0\r\nNoColon\r\n\r\n", 400],
    ["bare LF in trailer", "0\r\nX: 1\n\r\n", 400],
    ["bare CR at the end", "0\r\n\rX", 400],
  ];
  for (const [name, wire, status] of invalid) {
    test(`${name} → ${status}`, () => expect(chunkedStatus(wire, 1000)).toBe(status));
  }
  test("trailer section over the limit → 431", () => {
    expect(() => decodeChunked(`0\r\nX: ${"a".repeat(300)}\r\n\r\n`)).toThrow(HttpError);
  });
});

describe("chunk-extension budget per body", () => {
  const statusOf = (wire: Buffer, allowance?: number) => {
    const d = new ChunkedBody(16 * 1024 * 1024, 16 * 1024, allowance);
    try {
      d.feed(wire, 0, wire.length);
      return d.done ? 200 : 0;
    } catch (e) {
      if (e instanceof HttpError) return e.status;
      throw e;
    }
  };
  const body = (chunks: string) => Buffer.from(`${chunks}0\r\n\r\n`, "latin1");
  const cases: [string, Buffer, number][] = [
    ["one line of 16384 extension bytes (Bun.serve's and Node's limit)", body(`1;${"x".repeat(16383)}\r\na\r\n`), 200],
    ["one line of 16385 extension bytes", body(`1;${"x".repeat(16384)}\r\na\r\n`), 413],
    ["1-byte chunks, each padded with 4 KiB (the attack)", body(`1;${"x".repeat(4095)}\r\na\r\n`.repeat(100)), 413],
    ["1-byte chunks, each with 100 bytes of extension", body(`1;${"x".repeat(99)}\r\na\r\n`.repeat(1000)), 413],
    ["a few small extensions", body("5;a=1\r\nhello\r\n5;b=\"two\"\r\nworld\r\n"), 200],
    ["signed streaming upload: 8 KiB chunks with an 80-byte signature each, 4 MiB", body(`2000;chunk-signature=${"f".repeat(64)}\r\n${"d".repeat(8192)}\r\n`.repeat(512)), 200],
    ["extensions as long as the data they annotate, 40 KB of each", body("4;x=1\r\nabcd\r\n".repeat(10_000)), 200],
  ];
  for (const [name, wire, status] of cases) test(`${name} → ${status === 200 ? "accepted" : status}`, () => expect(statusOf(wire)).toBe(status));

  test("the allowance is a parameter (default CHUNK_EXTENSION_ALLOWANCE_BYTES)", () => {
    const wire = body(`1;${"x".repeat(99)}\r\na\r\n`.repeat(1000));
    expect(statusOf(wire, 200_000)).toBe(200);
    expect(CHUNK_EXTENSION_ALLOWANCE_BYTES).toBe(16 * 1024);
  });

  test("refused as soon as the budget is spent, not at the end of the body", () => {
    const d = new ChunkedBody(16 * 1024 * 1024, 16 * 1024);
    const line = Buffer.from(`1;${"x".repeat(4095)}\r\na\r\n`);
    let fed = 0;
    const feedLine = () => {
      d.feed(line, 0, line.length);
      fed++;
    };
    expect(() => {
      for (let k = 0; k < 1000; k++) feedLine();
    }).toThrow(HttpError);
    expect(fed).toBe(4); // 4 lines of 4 KiB fit the 16 KiB allowance (plus 4 data bytes); the fifth does not
  });
});

describe("fixed-length bodies", () => {
  test("takes exactly Content-Length bytes, leaves the rest", () => {
    const d = new FixedLengthBody(5);
    const b = Buffer.from("helloGET");
    expect(d.feed(b, 0, 3)).toBe(3);
    expect(d.done).toBe(false);
    expect(d.feed(b, 3, b.length)).toBe(5);
    expect(d.done).toBe(true);
    expect(Buffer.from(d.body()).toString()).toBe("hello");
  });
});
