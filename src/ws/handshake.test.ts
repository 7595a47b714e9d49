// The opening handshake: RFC 6455 §4.2.1 checks, the accept key, subprotocol selection, and the
// 101 compared header by header with what Bun.serve's server.upgrade() sends for the same request.
import { afterAll, describe, expect, test } from "bun:test";
import { acceptKey, acceptResponse, checkUpgrade, hasToken, parseExtensions, parseProtocols, rejectResponse, selectProtocol } from "./handshake.ts";

const KEY = "dGhlIHNhbXBsZSBub25jZQ==";
const base: Record<string, string> = {
  host: "example.com",
  upgrade: "websocket",
  connection: "Upgrade",
  "sec-websocket-key": KEY,
  "sec-websocket-version": "13",
};
const req = (over: Record<string, string | null> = {}, method = "GET") => {
  const h = new Headers();
  for (const [k, v] of Object.entries({ ...base, ...over })) if (v !== null) h.set(k, v);
  return { method, headers: h };
};

test("the RFC's example key gives the RFC's accept value (RFC 6455 §1.3)", () => {
  expect(acceptKey(KEY)).toBe("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
});

describe("checkUpgrade", () => {
  test("a valid upgrade is accepted", () => {
    const r = checkUpgrade(req({ "sec-websocket-protocol": "chat, superchat", "sec-websocket-extensions": "permessage-deflate; client_max_window_bits" }));
    expect(r).toEqual({
      kind: "accept",
      key: KEY,
      accept: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
      offeredProtocols: ["chat", "superchat"],
      offeredExtensions: [{ name: "permessage-deflate", params: { client_max_window_bits: true } }],
    });
  });
  test("Upgrade and Connection are token lists, matched case-insensitively", () => {
    expect(checkUpgrade(req({ upgrade: "h2c, WebSocket", connection: "keep-alive, UPGRADE" })).kind).toBe("accept");
  });
  test("no Upgrade: websocket is an ordinary request", () => {
    expect(checkUpgrade(req({ upgrade: null })).kind).toBe("not-websocket");
    expect(checkUpgrade(req({ upgrade: "h2c" })).kind).toBe("not-websocket");
    expect(checkUpgrade(req({ upgrade: "websockets" })).kind).toBe("not-websocket");
  });
  const rejects: [string, ReturnType<typeof req>, number, number?][] = [
    ["version 8", req({ "sec-websocket-version": "8" }), 426],
    ["no version", req({ "sec-websocket-version": null }), 426],
    ["two versions", req({ "sec-websocket-version": "13, 8" }), 426],
    ["POST", req({}, "POST"), 400],
    ["HTTP/1.0", req(), 400, 10],
    ["no Connection: upgrade", req({ connection: "keep-alive" }), 400],
    ["no Host", req({ host: null }), 400],
    ["no key", req({ "sec-websocket-key": null }), 400],
    ["key of 15 bytes", req({ "sec-websocket-key": Buffer.alloc(15).toString("base64") }), 400],
    ["key of 17 bytes", req({ "sec-websocket-key": Buffer.alloc(17).toString("base64") }), 400],
    ["key not base64", req({ "sec-websocket-key": "!!!!!!!!!!!!!!!!!!!!!!==" }), 400],
  ];
  for (const [name, r, status, version] of rejects) {
    test(`${name} → ${status}`, () => {
      const out = checkUpgrade(r, version);
      expect(out.kind).toBe("reject");
      if (out.kind !== "reject") return;
      expect(out.status).toBe(status as 400 | 426);
      if (status === 426) expect(out.headers).toEqual({ "Sec-WebSocket-Version": "13" });
      expect(rejectResponse(out)).toStartWith(`HTTP/1.1 ${status} `);
      expect(rejectResponse(out)).toEndWith("Connection: close\r\n\r\n");
    });
  }
});

describe("header parsing", () => {
  test("hasToken", () => {
    expect(hasToken("a, b ,Upgrade", "upgrade")).toBe(true);
    expect(hasToken("upgraded", "upgrade")).toBe(false);
    expect(hasToken(null, "upgrade")).toBe(false);
  });
  test("protocols: tokens only, duplicates dropped, order kept", () => {
    expect(parseProtocols(" chat ,superchat, chat,, bad proto,x/y")).toEqual(["chat", "superchat"]);
  });
  test("extensions with quoted and bare params; an offer without a name is dropped", () => {
    expect(parseExtensions('permessage-deflate; server_no_context_takeover; client_max_window_bits="10", x-foo, ; bad')).toEqual([
      { name: "permessage-deflate", params: { server_no_context_takeover: true, client_max_window_bits: "10" } },
      { name: "x-foo", params: {} },
    ]);
  });
  test("selectProtocol: first offered by default, the app's choice when offered, never one not offered", () => {
    expect(selectProtocol(["a", "b"])).toBe("a");
    expect(selectProtocol([])).toBe("");
    expect(selectProtocol(["a", "b"], "b")).toBe("b");
    expect(selectProtocol(["a", "b"], null)).toBe("");
    expect(() => selectProtocol(["a", "b"], "c")).toThrow(/not offered/);
  });
  test("extra 101 headers: validated; the handshake's own cannot be overridden", () => {
    const head = acceptResponse({ accept: "x", protocol: "", headers: { "X-Id": "7", Upgrade: "nope" }, date: "D" });
    expect(head).toBe("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\nX-Id: 7\r\nDate: D\r\n\r\n");
    expect(() => acceptResponse({ accept: "x", protocol: "", headers: { "X-A": "1\r\nInjected: 1" } })).toThrow(/CR, LF/);
  });
});

describe("the 101 matches Bun.serve's", () => {
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch(r, s) {
      return s.upgrade(r) ? undefined : new Response("not upgraded", { status: 400 });
    },
    websocket: { message() {} },
  });
  afterAll(() => server.stop(true));

  /** Sends `request` raw and returns the response head. */
  async function rawHead(request: string): Promise<string> {
    const { promise, resolve, reject } = Promise.withResolvers<string>();
    let got = "";
    const socket = await Bun.connect({
      hostname: "127.0.0.1",
      port: server.port!,
      socket: {
        data(s, d) {
          got += d.toString("latin1");
          const end = got.indexOf("\r\n\r\n");
          if (end >= 0) {
            resolve(got.slice(0, end + 4));
            s.end();
          }
        },
        close: () => reject(new Error(`closed before a response head: ${JSON.stringify(got)}`)),
        error: (_s, e) => reject(e),
      },
    });
    socket.write(request);
    return promise;
  }

  const fields = (head: string) =>
    head
      .split("\r\n")
      .slice(1)
      .filter((l) => l !== "")
      .map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()] as const);

  for (const protocols of [null, "chat, superchat"]) {
    test(`same status line, header names, order and values (Sec-WebSocket-Protocol: ${protocols ?? "none"})`, async () => {
      let request = `GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate\r\n`;
      if (protocols) request += `Sec-WebSocket-Protocol: ${protocols}\r\n`;
      const bun = await rawHead(request + "\r\n");
      const check = checkUpgrade(req(protocols ? { "sec-websocket-protocol": protocols, "sec-websocket-extensions": "permessage-deflate" } : { "sec-websocket-extensions": "permessage-deflate" }));
      if (check.kind !== "accept") throw new Error("expected accept");
      const ours = acceptResponse({ accept: check.accept, protocol: selectProtocol(check.offeredProtocols) });
      expect(ours.split("\r\n")[0]).toBe(bun.split("\r\n")[0]!);
      const dateless = (h: string) => fields(h).filter(([n]) => n !== "date");
      expect(dateless(ours)).toEqual(dateless(bun));
      expect(fields(ours).map(([n]) => n)).toEqual(fields(bun).map(([n]) => n));
    });
  }

  test("a wrong version gets the same 426 head from both", async () => {
    const bun = await rawHead(`GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 8\r\n\r\n`);
    const check = checkUpgrade(req({ "sec-websocket-version": "8" }));
    if (check.kind !== "reject") throw new Error("expected reject");
    expect(rejectResponse(check)).toBe(bun);
  });
});
