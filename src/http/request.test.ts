import { describe, expect, test } from "bun:test";
import { parseHead, type HeadLimits } from "./head.ts";
import { LiveRequest } from "./request.ts";

const limits: HeadLimits = { maxHeaderBytes: 4096, maxHeaderCount: 20, maxUrlLength: 256, maxBodyBytes: 1000 };

function live(text: string, body: string | null = null): LiveRequest {
  const buf = Buffer.from(text, "latin1");
  const head = parseHead(buf, 0, buf.length, limits);
  return new LiveRequest(head.method, `http://${head.host}${head.path}`, head, body === null ? null : new TextEncoder().encode(body));
}

describe("LiveRequest", () => {
  test("is a Request to app code", () => {
    const r = live("GET /a?b=1 HTTP/1.1\r\nHost: h:1\r\n\r\n") as unknown as Request;
    expect(r instanceof Request).toBe(true);
    expect(Object.prototype.toString.call(r)).toBe("[object Request]");
    expect(r.constructor).toBe(Request);
    expect(r.constructor.name).toBe("Request");
    expect(Object.keys(r as object).includes("constructor")).toBe(false);
    expect(r.method).toBe("GET");
    expect(r.url).toBe("http://h:1/a?b=1");
    expect(new URL(r.url).searchParams.get("b")).toBe("1");
  });

  test("headers are built on first read, case-insensitive, repeated fields combined", () => {
    const r = live("GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-a: 2\r\nCookie: c=1\r\n\r\n");
    expect(r._headers).toBeUndefined();
    expect(r.headers.get("x-a")).toBe("1, 2");
    expect(r.headers.get("HOST")).toBe("h");
    expect(r.headers).toBe(r.headers);
  });

  test("body readers: text, json, arrayBuffer, bytes; a second read is refused", async () => {
    expect(await live("POST / HTTP/1.1\r\nHost: h\r\n\r\n", "héllo").text()).toBe("héllo");
    expect(await live("POST / HTTP/1.1\r\nHost: h\r\n\r\n", '{"a":1}').json()).toEqual({ a: 1 });
    expect(new Uint8Array(await live("POST / HTTP/1.1\r\nHost: h\r\n\r\n", "ab").arrayBuffer())).toEqual(new Uint8Array([97, 98]));
    const r = live("POST / HTTP/1.1\r\nHost: h\r\n\r\n", "ab");
    expect(r.bodyUsed).toBe(false);
    expect(await r.bytes()).toEqual(new Uint8Array([97, 98]));
    expect(r.bodyUsed).toBe(true);
    await expect(r.text()).rejects.toThrow();
  });

  test("everything else comes from a real Request made on demand", async () => {
    const r = live("POST /p HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\n\r\n", "body") as unknown as Request;
    expect(r.signal).toBeInstanceOf(AbortSignal);
    const copy = r.clone();
    expect(copy instanceof Request).toBe(true);
    expect(await copy.text()).toBe("body");
    expect(await r.text()).toBe("body");
    expect(r.headers.get("content-type")).toBe("text/plain");
    expect(await (live("POST / HTTP/1.1\r\nHost: h\r\n\r\n", "xyz") as unknown as Request).blob().then((b) => b.size)).toBe(3);
  });

  test("a GET never carries a body into the real Request", async () => {
    const r = live("GET / HTTP/1.1\r\nHost: h\r\n\r\n") as unknown as Request;
    expect(r.body).toBeNull();
    expect(await r.text()).toBe("");
  });
});
