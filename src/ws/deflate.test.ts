// permessage-deflate without context takeover: negotiation (the same response as Bun.serve with
// perMessageDeflate: true), the codec and its limits, the parser's RSV1 rules, a compressed
// message surviving a move, and both real clients exchanging compressed messages.
import { describe, expect, test } from "bun:test";
import { cleanupAfterEach } from "../../test/support/cleanups.ts";
import { Hono } from "hono";
import { upgradeWebSocket as bunUpgradeWebSocket, websocket as bunWebsocket } from "hono/bun";
import { compressMessage, decompressMessage, DEFLATE_RESPONSE, deflateNegotiated, negotiateDeflate } from "./deflate.ts";
import { parseExtensions } from "./handshake.ts";
import { FrameParser } from "./frame-parser.ts";
import { OP_BINARY, OP_CONTINUATION, OP_PING, OP_TEXT, WsProtocolError } from "./protocol.ts";
import { concat, frame } from "./testing/frames.ts";
import { defaultSessionOptions, WebSocketSession } from "./session.ts";
import { FakeTransport } from "./testing/fakes.ts";
import { upgradeWebSocket } from "./upgrade.ts";
import { serve } from "../http/serve.ts";
import { RealWebSocket } from "./testing/real-ws.ts";

const cleanups = cleanupAfterEach();

describe("negotiation", () => {
  const cases: [string, string][] = [
    ["permessage-deflate", DEFLATE_RESPONSE],
    ["permessage-deflate; client_max_window_bits", DEFLATE_RESPONSE],
    ["permessage-deflate; client_max_window_bits=10", DEFLATE_RESPONSE],
    ["permessage-deflate; server_no_context_takeover; client_no_context_takeover", DEFLATE_RESPONSE],
    ["x-webkit-deflate-frame, permessage-deflate", DEFLATE_RESPONSE],
    ["permessage-deflate; server_max_window_bits=10", ""],
    ["permessage-deflate; server_max_window_bits=10, permessage-deflate", DEFLATE_RESPONSE],
    ["permessage-deflate; client_max_window_bits=16", ""],
    ["permessage-deflate; unknown_param", ""],
    ["permessage-deflate; server_no_context_takeover=1", ""],
    ["x-webkit-deflate-frame", ""],
  ];
  for (const [offer, want] of cases) {
    test(`${offer} → ${want || "declined"}`, () => {
      expect(negotiateDeflate(parseExtensions(offer))).toBe(want);
    });
  }
  test("the response matches Bun.serve's (perMessageDeflate: true) for each offer", async () => {
    const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (r, s) => (s.upgrade(r) ? undefined : new Response("no")), websocket: { perMessageDeflate: true, message() {} } });
    cleanups.push(() => server.stop(true));
    for (const [offer, want] of cases) {
      const head = await new Promise<string>((resolve, reject) => {
        let got = "";
        Bun.connect({
          hostname: "127.0.0.1",
          port: server.port!,
          socket: {
            open: (s) => void s.write(`GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: ${offer}\r\n\r\n`),
            data(s, d) {
              got += d.toString("latin1");
              if (got.includes("\r\n\r\n")) {
                resolve(got);
                s.end();
              }
            },
            close: () => reject(new Error("closed early")),
            error: (_s, e) => reject(e),
          },
        });
      });
      const bunExt = /\r\nSec-WebSocket-Extensions: ([^\r]*)\r\n/i.exec(head)?.[1] ?? "";
      expect({ offer, ext: bunExt }).toEqual({ offer, ext: want });
    }
  });
  test("deflateNegotiated reads a moved record's extensions", () => {
    expect(deflateNegotiated(DEFLATE_RESPONSE)).toBe(true);
    expect(deflateNegotiated("")).toBe(false);
  });
});

describe("codec", () => {
  test("round trip, with the flush tail stripped (RFC 7692 §7.2.1)", () => {
    const data = Buffer.from("hello hello hello hello ".repeat(100));
    const c = compressMessage(data);
    expect(c.length).toBeLessThan(data.length / 10);
    expect(c.subarray(-4).equals(Buffer.from([0, 0, 0xff, 0xff]))).toBe(false);
    expect(decompressMessage(c, 1 << 20).equals(data)).toBe(true);
    expect(decompressMessage(compressMessage(new Uint8Array(0)), 10).length).toBe(0);
  });
  test("a deflate bomb stops at maxMessageBytes with 1009", () => {
    const bomb = compressMessage(new Uint8Array(10 << 20));
    expect(bomb.length).toBeLessThan(20_000);
    try {
      decompressMessage(bomb, 1 << 20);
      throw new Error("expected a failure");
    } catch (e) {
      expect((e as WsProtocolError).closeCode).toBe(1009);
    }
  });
  test("corrupt data is 1007", () => {
    try {
      decompressMessage(new Uint8Array([1, 2, 3, 4, 5]), 1024);
      throw new Error("expected a failure");
    } catch (e) {
      expect((e as WsProtocolError).closeCode).toBe(1007);
    }
  });
});

describe("parser with deflate negotiated", () => {
  function parse(bytes: Uint8Array, deflate = true): { events: string[]; error: number | null } {
    const events: string[] = [];
    const p = new FrameParser(
      {
        onText: (t) => events.push(`text:${t.length}:${t.slice(0, 12)}`),
        onBinary: (b) => {
          expect(b.buffer.byteLength).toBe(b.length);
          events.push(`binary:${b.length}`);
        },
        onPing: () => events.push("ping"),
        onPong: () => events.push("pong"),
        onClose: (c) => events.push(`close:${c}`),
      },
      { maxMessageBytes: 1 << 20, deflate },
    );
    try {
      for (let i = 0; i < bytes.length; i += 7) p.push(bytes.subarray(i, i + 7));
    } catch (e) {
      if (e instanceof WsProtocolError) return { events, error: e.closeCode };
      throw e;
    }
    return { events, error: null };
  }
  const text = "compressible text ✓ ".repeat(200);
  const z = compressMessage(Buffer.from(text));
  test("a compressed text and binary message, in 7-byte reads", () => {
    const bin = compressMessage(new Uint8Array(5000).fill(3));
    expect(parse(concat(frame({ op: OP_TEXT, payload: z, rsv: 0x40 }), frame({ op: OP_BINARY, payload: bin, rsv: 0x40 }), frame({ op: OP_TEXT, payload: "plain" })))).toEqual({
      events: [`text:${text.length}:compressible`, "binary:5000", "text:5:plain"],
      error: null,
    });
  });
  test("a compressed message in fragments (RSV1 on the first only), a ping between them", () => {
    const half = z.length >> 1;
    const input = concat(frame({ op: OP_TEXT, payload: z.subarray(0, half), rsv: 0x40, fin: false }), frame({ op: OP_PING }), frame({ op: OP_CONTINUATION, payload: z.subarray(half) }));
    expect(parse(input)).toEqual({ events: ["ping", `text:${text.length}:compressible`], error: null });
  });
  test("RSV1 on a continuation frame → 1002", () => {
    expect(parse(concat(frame({ op: OP_TEXT, payload: z, rsv: 0x40, fin: false }), frame({ op: OP_CONTINUATION, rsv: 0x40 }))).error).toBe(1002);
  });
  test("RSV1 on a control frame → 1002", () => {
    expect(parse(frame({ op: OP_PING, rsv: 0x40 })).error).toBe(1002);
  });
  test("RSV2 even with deflate → 1002; RSV1 without deflate → 1002", () => {
    expect(parse(frame({ op: OP_TEXT, payload: z, rsv: 0x20 })).error).toBe(1002);
    expect(parse(frame({ op: OP_TEXT, payload: z, rsv: 0x40 }), false).error).toBe(1002);
  });
  test("compressed invalid UTF-8 → 1007; corrupt compressed data → 1007", () => {
    expect(parse(frame({ op: OP_TEXT, payload: compressMessage(new Uint8Array([0x61, 0xff])), rsv: 0x40 })).error).toBe(1007);
    expect(parse(frame({ op: OP_BINARY, payload: new Uint8Array([9, 9, 9, 9]), rsv: 0x40 })).error).toBe(1007);
  });
});

test("a session with deflate moves: the negotiated extension travels, and a compressed message after the move inflates", () => {
  const transport = new FakeTransport();
  const info = { url: "http://h/ws", headers: [] as [string, string][], protocol: "", extensions: DEFLATE_RESPONSE };
  const a = new WebSocketSession(transport, { onMessage() {}, onClose() {} }, info);
  a.prepareToMove();
  const payload = compressMessage(Buffer.from("moved ".repeat(50)));
  a.receive(frame({ op: OP_TEXT, payload, rsv: 0x40 }));
  const record = a.snapshot(null);
  a.handedOver();
  expect(record.extensions).toBe(DEFLATE_RESPONSE);
  const got: string[] = [];
  const b = WebSocketSession.restore(record, new FakeTransport(), { onMessage: (d) => void got.push(String(d)), onClose() {} }, defaultSessionOptions);
  b.resume();
  expect(got).toEqual(["moved ".repeat(50)]);
  b.transportClosed();
});

describe("real clients exchange compressed messages, on Bun.serve and liveframe alike", () => {
  function app(upgrade: typeof upgradeWebSocket) {
    const a = new Hono();
    a.get(
      "/ws",
      upgrade(() => ({
        onMessage(evt, ws) {
          ws.send(typeof evt.data === "string" ? `echo:${evt.data}` : new Uint8Array(evt.data as ArrayBuffer), { compress: true });
        },
      })),
    );
    return a;
  }
  function servers(): { name: string; port: number }[] {
    const bun = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: app(bunUpgradeWebSocket as typeof upgradeWebSocket).fetch, websocket: { ...bunWebsocket, perMessageDeflate: true } });
    // The engine, with the option as an app passes it (upgradeWebSocket's handlers kept).
    const live = serve(app(upgradeWebSocket), { port: 0, hostname: "127.0.0.1", websocket: { perMessageDeflate: true } });
    cleanups.push(() => bun.stop(true), () => live.stop({ graceful: false }));
    return [
      { name: "bun", port: bun.port! },
      { name: "liveframe", port: live.port },
    ];
  }
  const big = "all work and no play makes jack a dull boy. ".repeat(2000);

  test("the npm ws client (deflate offered by default)", async () => {
    const results: Record<string, string[]> = {};
    for (const s of servers()) {
      const lines: string[] = [];
      const ws = new RealWebSocket(`ws://127.0.0.1:${s.port}/ws`);
      const done = Promise.withResolvers<void>();
      ws.on("open", () => {
        lines.push(`extensions=${ws.extensions}`);
        ws.send(big, { compress: true });
        ws.send("short", { compress: false });
      });
      ws.on("message", (d: Buffer) => {
        lines.push(`${d.length}:${d.toString().slice(0, 14)}`);
        if (lines.length === 3) ws.close(1000);
      });
      ws.on("close", () => done.resolve());
      await done.promise;
      results[s.name] = lines;
    }
    expect(results.liveframe).toEqual(results.bun!);
    // ws reports the names of the negotiated extensions.
    expect(results.liveframe).toEqual(["extensions=permessage-deflate", `${big.length + 5}:echo:all work `, "10:echo:short"]);
  });

  test("Bun's WebSocket client", async () => {
    const results: Record<string, string[]> = {};
    for (const s of servers()) {
      const lines: string[] = [];
      const ws = new WebSocket(`ws://127.0.0.1:${s.port}/ws`);
      const done = Promise.withResolvers<void>();
      ws.onopen = () => {
        lines.push(`extensions=${ws.extensions}`);
        ws.send(big);
      };
      ws.onmessage = (e) => {
        lines.push(`${String(e.data).length}`);
        ws.close(1000);
      };
      ws.onclose = () => done.resolve();
      await done.promise;
      results[s.name] = lines;
    }
    expect(results.liveframe).toEqual(results.bun!);
    // Bun's client renders the negotiated parameters in its own order.
    expect(results.liveframe).toEqual(["extensions=permessage-deflate; server_no_context_takeover; client_no_context_takeover", String(big.length + 5)]);
  });
});
