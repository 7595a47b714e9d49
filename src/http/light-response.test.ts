import { describe, expect, test } from "bun:test";
import { installSourceResponse, isLight, kSource, LightResponse, NativeResponse, SourceResponse } from "./light-response.ts";

installSourceResponse();

describe("SourceResponse (the global Response once a server exists)", () => {
  test("is the global, a real Response, and remembers its source", async () => {
    expect(globalThis.Response).toBe(SourceResponse as unknown as typeof Response);
    const r = new Response("hi", { status: 201 });
    expect(r instanceof NativeResponse).toBe(true);
    expect((r as any)[kSource]).toBe("hi");
    expect(await r.text()).toBe("hi");
  });

  test("instanceof accepts Responses the runtime makes itself", () => {
    expect(NativeResponse.json({ a: 1 }) instanceof Response).toBe(true);
    expect(Response.json({ a: 1 }) instanceof Response).toBe(true);
    expect(Response.redirect("http://x/", 302).status).toBe(302);
    expect(Response.error().type).toBe("error");
    expect(Response.name).toBe("Response");
  });

  test("subclassing the global still works", async () => {
    class Mine extends Response {
      extra = 1;
    }
    const m = new Mine("x");
    expect(m instanceof Response).toBe(true);
    expect(await m.text()).toBe("x");
  });

  test("Bun.serve accepts it", async () => {
    const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("from bun") });
    try {
      expect(await (await fetch(`http://127.0.0.1:${server.port}/`)).text()).toBe("from bun");
    } finally {
      server.stop(true);
    }
  });
});

describe("LightResponse (the global only while app.fetch runs synchronously)", () => {
  test("keeps string, bytes and null bodies with a plain init", () => {
    const a = new LightResponse("x", { status: 202, headers: { "x-a": "1" } });
    expect(isLight(a)).toBe(true);
    expect(a._body).toBe("x");
    expect(isLight(new LightResponse(new Uint8Array(2)))).toBe(true);
    expect(isLight(new LightResponse(null, { status: 204 }))).toBe(true);
    expect(isLight(new LightResponse())).toBe(true);
  });

  test("anything it cannot represent exactly becomes a real Response (or the runtime's error)", () => {
    expect(isLight(new LightResponse(new ReadableStream()))).toBe(false);
    expect(isLight(new LightResponse("x", { headers: new Headers({ a: "1" }) }))).toBe(false);
    expect(isLight(new LightResponse(new Blob(["x"])))).toBe(false);
    // An out-of-range status, or a body with a null-body status, is the runtime's call (Bun throws
    // RangeError for 99 and accepts a body with 204): never a LightResponse.
    for (const status of [99, 204]) {
      let made: unknown;
      try {
        made = new LightResponse("x", { status });
      } catch (e) {
        expect(e).toBeInstanceOf(RangeError);
      }
      expect(isLight(made)).toBe(false);
    }
  });

  test("is a Response to app code: instanceof, status, ok, headers, body readers, clone", async () => {
    const r = new LightResponse('{"a":1}', { status: 404, statusText: "Nope", headers: { "content-type": "application/json" } }) as unknown as Response;
    expect(r instanceof Response).toBe(true);
    expect(r instanceof NativeResponse).toBe(true);
    expect(r.status).toBe(404);
    expect(r.ok).toBe(false);
    expect(r.statusText).toBe("Nope");
    expect(r.headers.get("content-type")).toBe("application/json");
    const c = r.clone();
    expect(await c.json()).toEqual({ a: 1 });
    expect(await r.text()).toBe('{"a":1}');
    expect(r.bodyUsed).toBe(true);
  });

  test("a header mutation through .headers is kept (the writer then uses the real Response)", () => {
    const r = new LightResponse("x", { headers: { a: "1" } });
    (r as unknown as Response).headers.set("b", "2");
    expect(r._native?.headers.get("b")).toBe("2");
  });
});
