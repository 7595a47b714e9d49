// Real clients on real loopback sockets. The same Hono app runs twice: on Bun.serve with hono/bun's
// upgradeWebSocket, and on liveframe's engine (serve()) with liveframe's (the one-import change an
// app makes). Each scenario's transcript (what the app saw, what the client saw) must be identical,
// and must be what the scenario expects (so two equally broken servers cannot pass).
import { describe, expect, test } from "bun:test";
import { cleanupAfterEach } from "../../test/support/cleanups.ts";
import { Hono } from "hono";
import { upgradeWebSocket as bunUpgradeWebSocket, websocket as bunWebsocket } from "hono/bun";
import { upgradeWebSocket } from "./upgrade.ts";
import { serve } from "../http/serve.ts";
import { RealWebSocket } from "./testing/real-ws.ts";
import { closePayload, concat, frame, readServerFrames } from "./testing/frames.ts";
import { OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_TEXT } from "./protocol.ts";

const cleanups = cleanupAfterEach();

/** The test app, written once against an upgradeWebSocket; `log` records what its handlers saw. */
function makeApp(upgrade: typeof upgradeWebSocket, log: string[], closed: () => void) {
  const app = new Hono();
  app.get(
    "/ws",
    upgrade(() => ({
      onOpen(_evt, ws) {
        log.push(`open protocol=${ws.protocol} url=${ws.url?.pathname}${ws.url?.search} readyState=${ws.readyState}`);
      },
      onMessage(evt, ws) {
        const d = evt.data;
        if (typeof d === "string") {
          log.push(`text ${d}`);
          if (d === "close-me") return ws.close(4001, "server bye");
          ws.send(`echo:${d}`);
        } else {
          const bytes = new Uint8Array(d as ArrayBuffer);
          log.push(`binary ${(d as object).constructor.name} len=${bytes.length} sum=${bytes.reduce((a, b) => (a + b) % 65536, 0)}`);
          ws.send(bytes);
        }
      },
      onClose(evt) {
        log.push(`close ${evt.code} ${evt.reason}`);
        closed();
      },
    })),
  );
  app.get("/", (c) => c.text("plain page"));
  return app;
}

interface Target {
  port: number;
  log: string[];
  /** Resolves when the app's onClose ran. */
  appClosed: Promise<void>;
}

function onBun(): Target {
  const log: string[] = [];
  const { promise, resolve } = Promise.withResolvers<void>();
  const app = makeApp(bunUpgradeWebSocket as typeof upgradeWebSocket, log, resolve);
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: app.fetch, websocket: bunWebsocket });
  cleanups.push(() => server.stop(true));
  return { port: server.port!, log, appClosed: promise };
}

function onLiveframe(): Target {
  const log: string[] = [];
  const { promise, resolve } = Promise.withResolvers<void>();
  const app = makeApp(upgradeWebSocket, log, resolve);
  const server = serve(app, { port: 0, hostname: "127.0.0.1" });
  cleanups.push(() => server.stop({ graceful: false }));
  return { port: server.port, log, appClosed: promise };
}

/** Runs `scenario` against both servers; returns both transcripts (client lines + app log). */
async function both(scenario: (port: number) => Promise<string[]>): Promise<{ bun: string[]; liveframe: string[] }> {
  const run = async (t: Target) => {
    const client = await scenario(t.port);
    await t.appClosed;
    return [...client, "--- app:", ...t.log];
  };
  return { bun: await run(onBun()), liveframe: await run(onLiveframe()) };
}

/** Bun's WebSocket client: sends, waits for `replies` messages, then closes (or waits for the server's close). */
async function bunClientScenario(port: number, sends: (string | Uint8Array)[], replies: number, clientClose: [number, string] | null): Promise<string[]> {
  const lines: string[] = [];
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?room=7`, ["chat", "superchat"]);
  ws.binaryType = "arraybuffer";
  const done = Promise.withResolvers<void>();
  let got = 0;
  ws.onopen = () => {
    lines.push(`client open protocol=${ws.protocol}`);
    for (const s of sends) ws.send(s);
  };
  ws.onmessage = (e) => {
    lines.push(typeof e.data === "string" ? `client text ${e.data}` : `client binary ${new Uint8Array(e.data).length}`);
    if (++got === replies && clientClose) ws.close(...clientClose);
  };
  ws.onclose = (e) => {
    lines.push(`client close ${e.code} ${e.reason} clean=${e.wasClean}`);
    done.resolve();
  };
  await done.promise;
  return lines;
}

describe("Bun's WebSocket client: hono/bun on Bun.serve and liveframe give the same transcript", () => {
  test("echo text and binary, client closes with 4000", async () => {
    const t = await both((port) => bunClientScenario(port, ["hello", new Uint8Array([1, 2, 3]), "é€𝄞"], 3, [4000, "client bye"]));
    expect(t.liveframe).toEqual(t.bun);
    expect(t.liveframe).toEqual([
      "client open protocol=chat",
      "client text echo:hello",
      "client binary 3",
      "client text echo:é€𝄞",
      "client close 4000 client bye clean=true",
      "--- app:",
      "open protocol=chat url=/ws?room=7 readyState=1",
      "text hello",
      "binary ArrayBuffer len=3 sum=6",
      "text é€𝄞",
      "close 4000 client bye",
    ]);
  });
  test("the app closes with 4001", async () => {
    const t = await both((port) => bunClientScenario(port, ["close-me"], 0, null));
    expect(t.liveframe).toEqual(t.bun);
    expect(t.liveframe).toContain("client close 4001 server bye clean=true");
  });
  test("a 1 MiB binary message and 200 small ones in a burst", async () => {
    const big = Uint8Array.from({ length: 1 << 20 }, (_, i) => i & 0xff);
    const small = Array.from({ length: 200 }, (_, i) => `m${i}`);
    const t = await both((port) => bunClientScenario(port, [big, ...small], 201, [1000, ""]));
    expect(t.liveframe).toEqual(t.bun);
    expect(t.liveframe).toContain("binary ArrayBuffer len=1048576 sum=" + big.reduce((a, b) => (a + b) % 65536, 0));
    expect(t.liveframe.filter((l) => l.startsWith("client text echo:m")).length).toBe(200);
  });
  test("a plain request to the WebSocket route without Upgrade falls through to the app, as under Bun", async () => {
    for (const target of [onBun(), onLiveframe()]) {
      const r = await fetch(`http://127.0.0.1:${target.port}/`);
      expect(await r.text()).toBe("plain page");
    }
  });
});

describe("the npm ws client (independent framing code)", () => {
  async function wsScenario(port: number): Promise<string[]> {
    const lines: string[] = [];
    const ws = new RealWebSocket(`ws://127.0.0.1:${port}/ws`, ["superchat"]);
    const done = Promise.withResolvers<void>();
    const messages: string[] = [];
    ws.on("open", () => {
      lines.push(`ws open protocol=${ws.protocol}`);
      // A fragmented text message, with a ping between its fragments.
      ws.send("frag", { fin: false });
      ws.ping("p1");
      ws.send("mented", { fin: true });
      ws.send(Buffer.alloc(70_000, 1), { binary: true });
    });
    ws.on("pong", (d: Buffer) => lines.push(`ws pong ${d.toString()}`));
    ws.on("message", (d: Buffer, isBinary: boolean) => {
      messages.push(isBinary ? `binary ${d.length}` : `text ${d.toString()}`);
      if (messages.length === 2) ws.close(1000, "done");
    });
    ws.on("close", (code: number, reason: Buffer) => {
      lines.push(...messages, `ws close ${code} ${reason.toString()}`);
      done.resolve();
    });
    ws.on("error", (e: Error) => lines.push(`ws error ${e.message}`));
    await done.promise;
    return lines;
  }
  test("fragmented text with a ping inside, 70 kB binary, close 1000", async () => {
    const t = await both(wsScenario);
    expect(t.liveframe).toEqual(t.bun);
    expect(t.liveframe).toEqual([
      "ws open protocol=superchat",
      "ws pong p1",
      "text echo:fragmented",
      "binary 70000",
      "ws close 1000 done",
      "--- app:",
      "open protocol=superchat url=/ws readyState=1",
      "text fragmented",
      "binary ArrayBuffer len=70000 sum=4464",
      "close 1000 done",
    ]);
  });
});

describe("invalid frames on a raw socket: the same close code from Bun.serve and liveframe", () => {
  const KEY = "dGhlIHNhbXBsZSBub25jZQ==";
  /** Handshakes, sends `bytes`, and returns the code in the server's close frame ("none" if it sent none). */
  async function closeCodeFor(port: number, bytes: Uint8Array): Promise<string> {
    const { promise, resolve } = Promise.withResolvers<string>();
    let buf = Buffer.alloc(0);
    let sent = false;
    await Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(s) {
          s.write(`GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
        },
        data(s, d) {
          buf = Buffer.concat([buf, d]);
          const end = buf.indexOf("\r\n\r\n");
          if (end >= 0 && !sent) {
            sent = true;
            s.write(bytes);
          }
        },
        close() {
          const end = buf.indexOf("\r\n\r\n");
          const frames = readServerFrames(buf.subarray(end + 4));
          const close = frames.find((f) => f.op === OP_CLOSE);
          resolve(close ? String(close.payload.length >= 2 ? close.payload.readUInt16BE(0) : "empty") : "none");
        },
        error() {},
      },
    });
    return promise;
  }

  const cases: [string, Uint8Array, string][] = [
    ["unmasked frame", frame({ op: OP_TEXT, payload: "x", mask: null }), "1002"],
    ["RSV1 without extension", frame({ op: OP_TEXT, payload: "x", rsv: 0x40 }), "1002"],
    ["RSV2", frame({ op: OP_BINARY, payload: "x", rsv: 0x20 }), "1002"],
    ["reserved opcode 3", frame({ op: 3, payload: "x" }), "1002"],
    ["reserved control opcode 0xb", frame({ op: 0xb }), "1002"],
    ["continuation without start", frame({ op: OP_CONTINUATION, payload: "x" }), "1002"],
    ["new text during fragmented message", concat(frame({ op: OP_TEXT, payload: "a", fin: false }), frame({ op: OP_TEXT, payload: "b" })), "1002"],
    ["fragmented ping", frame({ op: OP_PING, fin: false }), "1002"],
    ["ping of 126 bytes", frame({ op: OP_PING, payload: new Uint8Array(126) }), "1002"],
    ["invalid UTF-8 text", frame({ op: OP_TEXT, payload: new Uint8Array([0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80, 0x65]) }), "1007"],
    ["invalid UTF-8 across fragments", concat(frame({ op: OP_TEXT, payload: new Uint8Array([0xf0, 0x90]), fin: false }), frame({ op: OP_CONTINUATION, payload: new Uint8Array([0x41]) })), "1007"],
    ["close with 1-byte payload", frame({ op: OP_CLOSE, payload: new Uint8Array([3]) }), "1002"],
    ["close code 1005", frame({ op: OP_CLOSE, payload: closePayload(1005) }), "1002"],
    ["close code 999", frame({ op: OP_CLOSE, payload: closePayload(999) }), "1002"],
    ["close code 2999", frame({ op: OP_CLOSE, payload: closePayload(2999) }), "1002"],
    ["close code 5000", frame({ op: OP_CLOSE, payload: closePayload(5000) }), "1002"],
    ["close reason not UTF-8", frame({ op: OP_CLOSE, payload: closePayload(1000, new Uint8Array([0xff])) }), "1007"],
    ["valid close 3000 (echoed)", frame({ op: OP_CLOSE, payload: closePayload(3000) }), "3000"],
    ["valid empty close (echoed empty)", frame({ op: OP_CLOSE }), "empty"],
  ];
  for (const [name, bytes, code] of cases) {
    test(`${name} → ${code}`, async () => {
      const bun = onBun();
      const live = onLiveframe();
      const [b, l] = [await closeCodeFor(bun.port, bytes), await closeCodeFor(live.port, bytes)];
      expect({ bun: b, liveframe: l }).toEqual({ bun: code, liveframe: code });
      await Promise.all([bun.appClosed, live.appClosed]);
      expect(live.log.at(-1)!.split(" ")[1]).toBe(bun.log.at(-1)!.split(" ")[1]!);
    });
  }
});
