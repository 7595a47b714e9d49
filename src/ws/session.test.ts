// The session state machine, driven through its seams (a fake transport and clock): echo,
// ping/pong, both close handshakes, protocol errors, idle pings, backpressure, and the
// prepare/snapshot/restore cycle a reload will use.
import { describe, expect, test } from "bun:test";
import { defaultSessionOptions, WebSocketSession, type SessionHandler, type SessionOptions } from "./session.ts";
import { parseMovedWebSocket } from "./moved.ts";
import { OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT } from "./protocol.ts";
import { closePayload, concat, frame } from "./testing/frames.ts";
import { FakeClock, FakeTransport } from "./testing/fakes.ts";

const INFO = { url: "http://127.0.0.1:3000/chat?room=1", headers: [["host", "127.0.0.1:3000"], ["upgrade", "websocket"]] as [string, string][], protocol: "chat", extensions: "" };

function setup(over: Partial<SessionOptions> = {}, onMessage?: (s: WebSocketSession, d: string | Buffer) => void) {
  const transport = new FakeTransport();
  const clock = new FakeClock();
  const events: string[] = [];
  const errors: unknown[] = [];
  let session!: WebSocketSession;
  const handler: SessionHandler = {
    onMessage: (d) => {
      events.push(typeof d === "string" ? `text:${d}` : `binary:${d.toString("hex")}`);
      onMessage?.(session, d);
    },
    onPing: (p) => events.push(`ping:${p.toString()}`),
    onPong: (p) => events.push(`pong:${p.toString()}`),
    onClose: (code, reason) => events.push(`close:${code}:${reason}`),
    onDrain: () => events.push("drain"),
    onError: (e) => errors.push(e),
  };
  session = new WebSocketSession(transport, handler, INFO, { ...defaultSessionOptions, ...over }, clock);
  return { session, transport, clock, events, errors, handler };
}

const closeFrame = (f: { op: number; payload: Buffer }) => ({ op: f.op, code: f.payload.length >= 2 ? f.payload.readUInt16BE(0) : undefined, reason: f.payload.subarray(2).toString() });

describe("messages and control frames", () => {
  test("echo: text and binary in, unmasked frames out", () => {
    const { session, transport, events } = setup({}, (s, d) => expect(s.send(d)).toBeGreaterThan(0));
    session.receive(concat(frame({ op: OP_TEXT, payload: "hi" }), frame({ op: OP_BINARY, payload: new Uint8Array([1, 2]) })));
    expect(events).toEqual(["text:hi", "binary:0102"]);
    expect(transport.take().map((f) => [f.op, f.payload.toString("hex")])).toEqual([
      [OP_TEXT, Buffer.from("hi").toString("hex")],
      [OP_BINARY, "0102"],
    ]);
  });
  test("a ping is answered with a pong carrying its payload", () => {
    const { session, transport, events } = setup();
    session.receive(frame({ op: OP_PING, payload: "are you there" }));
    expect(transport.take().map((f) => [f.op, f.payload.toString()])).toEqual([[OP_PONG, "are you there"]]);
    expect(events).toEqual(["ping:are you there"]);
    session.receive(frame({ op: OP_PONG, payload: "unsolicited" }));
    expect(events).toEqual(["ping:are you there", "pong:unsolicited"]);
    expect(transport.take()).toEqual([]);
  });
});

describe("close handshake", () => {
  test("client closes with a code and reason: the same code and reason come back, then TCP ends", () => {
    const { session, transport, events } = setup();
    session.receive(frame({ op: OP_CLOSE, payload: closePayload(4001, "done") }));
    expect(transport.take().map(closeFrame)).toEqual([{ op: OP_CLOSE, code: 4001, reason: "done" }]);
    expect(events).toEqual(["close:4001:done"]);
    expect(transport.ended).toBe(true);
    expect(session.readyState).toBe(3);
    session.transportClosed();
    expect(events).toEqual(["close:4001:done"]);
  });
  test("client closes without a code: an empty close comes back, reported as 1005", () => {
    const { session, transport, events } = setup();
    session.receive(frame({ op: OP_CLOSE }));
    expect(transport.take().map((f) => [f.op, f.payload.length])).toEqual([[OP_CLOSE, 0]]);
    expect(events).toEqual(["close:1005:"]);
  });
  test("app closes: onClose at once (as Bun), later messages dropped, TCP ends on the client's close frame", () => {
    const { session, transport, events } = setup();
    session.close(4000, "bye");
    expect(events).toEqual(["close:4000:bye"]);
    expect(session.readyState).toBe(3);
    expect(session.send("late")).toBe(0);
    expect(transport.take().map(closeFrame)).toEqual([{ op: OP_CLOSE, code: 4000, reason: "bye" }]);
    expect(transport.ended).toBe(false);
    session.receive(frame({ op: OP_TEXT, payload: "in flight" }));
    expect(events).toEqual(["close:4000:bye"]);
    session.receive(frame({ op: OP_CLOSE, payload: closePayload(4000) }));
    expect(transport.ended).toBe(true);
    expect(transport.take()).toEqual([]);
  });
  test("close() without arguments sends 1000, as Bun does", () => {
    const { session, transport, events } = setup();
    session.close();
    expect(transport.take().map(closeFrame)).toEqual([{ op: OP_CLOSE, code: 1000, reason: "" }]);
    expect(events).toEqual(["close:1000:"]);
  });
  test("app closes and the client never answers: TCP ends after closeTimeoutMs", () => {
    const { session, transport, clock } = setup({ closeTimeoutMs: 500 });
    session.close(1000);
    clock.advance(499);
    expect(transport.ended).toBe(false);
    clock.advance(1);
    expect(transport.ended).toBe(true);
    expect(clock.pending).toBe(0);
  });
  test("a code that may not be sent is reported as given but sent without a code; never throws (Bun does not either)", () => {
    for (const code of [1006, 1005, 2000, 999, 0, 5000]) {
      const { session, transport, events } = setup();
      session.close(code, "why");
      expect(transport.take().map((f) => [f.op, f.payload.length])).toEqual([[OP_CLOSE, 0]]);
      expect(events).toEqual([`close:${code}:why`]);
    }
  });
  test("a long reason is cut at a character boundary to fit the control frame", () => {
    const { session, transport, events } = setup();
    session.close(1000, "é".repeat(100));
    const [f] = transport.take();
    expect(f!.payload.length).toBe(124);
    expect(f!.payload.subarray(2).toString()).toBe("é".repeat(61));
    // Bun reports the cut reason too.
    expect(events).toEqual([`close:1000:${"é".repeat(61)}`]);
  });
  test("TCP closed without a close frame: onClose(1006) once", () => {
    const { session, events, clock } = setup();
    session.transportClosed();
    session.transportClosed();
    expect(events).toEqual(["close:1006:"]);
    expect(clock.pending).toBe(0);
  });
});

describe("protocol errors fail the connection with the RFC's code", () => {
  const cases: [string, Uint8Array, number][] = [
    ["unmasked frame", frame({ op: OP_TEXT, payload: "x", mask: null }), 1002],
    ["invalid UTF-8", frame({ op: OP_TEXT, payload: new Uint8Array([0xc0, 0xaf]) }), 1007],
    ["message over maxMessageBytes", frame({ op: OP_BINARY, payload: new Uint8Array(65) }), 1009],
    ["invalid close code", frame({ op: OP_CLOSE, payload: closePayload(1005) }), 1002],
  ];
  for (const [name, input, code] of cases) {
    test(`${name} → close frame ${code}, onClose(1006), TCP ended`, () => {
      const { session, transport, events } = setup({ maxMessageBytes: 64 });
      session.receive(input);
      const frames = transport.take();
      expect(frames.map((f) => closeFrame(f).code)).toEqual([code]);
      expect(frames[0]!.payload.length).toBeLessThanOrEqual(125);
      expect(events.length).toBe(1);
      expect(events[0]).toStartWith("close:1006:");
      expect(transport.ended).toBe(true);
      session.receive(frame({ op: OP_TEXT, payload: "ignored" }));
      expect(events.length).toBe(1);
    });
  }
  test("a handler that throws fails the connection with 1011 and reaches onError; the parser is not corrupted", () => {
    const { session, transport, events, errors } = setup({}, () => {
      throw new Error("app bug");
    });
    session.receive(concat(frame({ op: OP_TEXT, payload: "a" }), frame({ op: OP_TEXT, payload: "b" })));
    expect(events).toEqual(["text:a", "close:1006:internal error"]);
    expect(transport.take().map((f) => closeFrame(f).code)).toEqual([1011]);
    expect((errors[0] as Error).message).toBe("app bug");
  });
});

describe("idle timeout with pings (injected clock)", () => {
  const opts = { idleTimeoutMs: 1000, pongTimeoutMs: 300 };
  test("idle → ping; no answer → close 1001 and TCP ended", () => {
    const { transport, clock, events } = setup(opts);
    clock.advance(999);
    expect(transport.take()).toEqual([]);
    clock.advance(1);
    expect(transport.take().map((f) => f.op)).toEqual([OP_PING]);
    clock.advance(299);
    expect(transport.ended).toBe(false);
    clock.advance(1);
    expect(transport.take().map((f) => closeFrame(f).code)).toEqual([1001]);
    expect(transport.ended).toBe(true);
    expect(events[0]).toStartWith("close:1006:idle timeout");
  });
  test("the pong keeps it open; the next ping comes a full idle period after the last byte", () => {
    const { session, transport, clock } = setup(opts);
    clock.advance(1000);
    expect(transport.take().map((f) => f.op)).toEqual([OP_PING]);
    clock.advance(100);
    session.receive(frame({ op: OP_PONG }));
    clock.advance(999);
    expect(transport.take()).toEqual([]);
    expect(transport.ended).toBe(false);
    clock.advance(1);
    expect(transport.take().map((f) => f.op)).toEqual([OP_PING]);
  });
  test("traffic postpones the ping", () => {
    const { session, transport, clock } = setup(opts);
    for (let i = 0; i < 10; i++) {
      clock.advance(900);
      session.receive(frame({ op: OP_TEXT, payload: "x" }));
    }
    expect(transport.take()).toEqual([]);
  });
  test("sendPings: false closes an idle client at once", () => {
    const { transport, clock } = setup({ ...opts, sendPings: false });
    clock.advance(1000);
    expect(transport.take().map((f) => closeFrame(f).code)).toEqual([1001]);
    expect(transport.ended).toBe(true);
  });
});

describe("backpressure", () => {
  test("send returns -1 when queued, bufferedAmount counts it, drain flushes and reports onDrain", () => {
    const { session, transport, events } = setup();
    transport.budget = 3;
    expect(session.send("hello")).toBe(-1);
    expect(session.bufferedAmount).toBe(4);
    expect(session.send("world")).toBe(-1);
    expect(session.bufferedAmount).toBe(11);
    transport.budget = 5;
    session.drain();
    expect(session.bufferedAmount).toBe(6);
    expect(events).toEqual([]);
    transport.budget = Infinity;
    session.drain();
    expect(session.bufferedAmount).toBe(0);
    expect(events).toEqual(["drain"]);
    expect(transport.take().map((f) => f.payload.toString())).toEqual(["hello", "world"]);
  });
  test("over maxBufferedBytes a message is dropped (send returns 0), as Bun with closeOnBackpressureLimit false", () => {
    const { session, transport } = setup({ maxBufferedBytes: 13 }); // frames of 10 + 3 bytes fit, a third does not
    transport.budget = 0;
    expect(session.send("12345678")).toBe(-1);
    expect(session.send("x")).toBe(-1);
    expect(session.send("y")).toBe(0);
    transport.budget = Infinity;
    session.drain();
    expect(transport.take().map((f) => f.payload.toString())).toEqual(["12345678", "x"]);
  });
  test("a close handshake waits for the queue: TCP ends only after the last byte left", () => {
    const { session, transport } = setup();
    transport.budget = 0;
    session.send("queued");
    session.receive(frame({ op: OP_CLOSE, payload: closePayload(1000) }));
    expect(transport.ended).toBe(false);
    transport.budget = Infinity;
    session.drain();
    expect(transport.ended).toBe(true);
    expect(transport.take().map((f) => f.op)).toEqual([OP_TEXT, OP_CLOSE]);
  });
});

describe("moving to the next generation", () => {
  test("prepare mid-message → movable at the message boundary; later bytes held; snapshot → restore → resume delivers them once", () => {
    const a = setup({}, (s, d) => s.send(`old:${d}`));
    const first = concat(frame({ op: OP_TEXT, payload: "one", fin: false }), frame({ op: OP_CONTINUATION, payload: "!" }));
    const second = frame({ op: OP_TEXT, payload: "two" });
    const third = frame({ op: OP_BINARY, payload: new Uint8Array([7]) });
    a.session.receive(first.subarray(0, 4));
    a.session.prepareToMove();
    expect(a.session.movable).toBe(false); // a partial frame is read
    a.session.receive(concat(first.subarray(4), second.subarray(0, 3)));
    expect(a.events).toEqual(["text:one!"]);
    expect(a.session.movable).toBe(true);
    a.session.receive(concat(second.subarray(3), third));
    expect(a.events).toEqual(["text:one!"]);
    expect(a.transport.take().map((f) => f.payload.toString())).toEqual(["old:one!"]);

    const record = a.session.snapshot({ user: "ada", n: 1 });
    a.session.handedOver();
    // Detached: nothing more happens on the old side, not even onClose.
    a.session.receive(frame({ op: OP_TEXT, payload: "late" }));
    a.session.transportClosed();
    expect(a.events).toEqual(["text:one!"]);
    expect(a.transport.written).toEqual([]);

    const received = parseMovedWebSocket(JSON.parse(JSON.stringify(record)), "test");
    expect(received).toEqual(record);
    expect(received.attached).toEqual({ user: "ada", n: 1 });
    expect(received.protocol).toBe("chat");
    expect(received.url).toBe(INFO.url);

    const transport = new FakeTransport();
    const events: string[] = [];
    const restored: WebSocketSession = WebSocketSession.restore(received, transport, {
      onMessage: (d) => {
        const text = typeof d === "string" ? d : d.toString("hex");
        events.push(text);
        restored.send(`new:${text}`);
      },
      onClose: (code) => events.push(`close:${code}`),
    });
    restored.receive(frame({ op: OP_TEXT, payload: "four" }));
    expect(events).toEqual([]); // nothing parsed before resume()
    restored.resume();
    expect(events).toEqual(["two", "07", "four"]);
    restored.transportClosed();
    expect(events).toEqual(["two", "07", "four", "close:1006"]);
    expect(transport.take().map((f) => f.payload.toString())).toEqual(["new:two", "new:07", "new:four"]);
  });
  test("not movable while a frame is queued for the client, nor after a close started", () => {
    const { session, transport } = setup();
    session.prepareToMove();
    transport.budget = 2;
    session.send("partly written");
    expect(session.movable).toBe(false);
    expect(() => session.snapshot()).toThrow(/not at a movable point/);
    transport.budget = Infinity;
    session.drain();
    expect(session.movable).toBe(true);
    session.close(1000);
    expect(session.movable).toBe(false);
  });
  test("onMovable fires once, when the boundary is reached and the queue flushed; a pin holds it back", () => {
    const { session, transport } = setup();
    const f = frame({ op: OP_TEXT, payload: "abc" });
    session.receive(f.subarray(0, 4));
    let fired = 0;
    session.pin(); // e.g. an async handler of the old code still running
    session.prepareToMove(() => fired++);
    expect(fired).toBe(0);
    session.receive(f.subarray(4));
    expect(fired).toBe(0); // at the boundary, but pinned
    transport.budget = 1;
    session.send("reply of the async handler");
    session.unpin();
    expect(fired).toBe(0); // a partial frame is still queued for the client
    transport.budget = Infinity;
    session.drain();
    expect(fired).toBe(1);
    session.receive(frame({ op: OP_TEXT, payload: "later" }));
    expect(fired).toBe(1);
  });
  test("a failed handoff: snapshot, then cancelMove carries on here with the held bytes, nothing lost or repeated", () => {
    const { session, events, transport } = setup();
    session.prepareToMove();
    session.receive(frame({ op: OP_TEXT, payload: "one" }));
    const record = session.snapshot(null);
    expect(Buffer.from(record.held, "base64").length).toBeGreaterThan(0);
    session.cancelMove();
    session.receive(frame({ op: OP_TEXT, payload: "two" }));
    expect(events).toEqual(["text:one", "text:two"]);
    expect(transport.ended).toBe(false);
  });
  test("bytes after the snapshot make it stale: handedOver refuses, a new snapshot has them", () => {
    const { session } = setup();
    session.prepareToMove();
    expect(() => session.handedOver()).toThrow(/before snapshot/);
    const first = session.snapshot(null);
    session.receive(frame({ op: OP_TEXT, payload: "late" }));
    expect(session.snapshotStale).toBe(true);
    expect(() => session.handedOver()).toThrow(/new snapshot/);
    const second = session.snapshot(null);
    expect(Buffer.from(second.held, "base64").length).toBeGreaterThan(Buffer.from(first.held, "base64").length);
    session.handedOver();
  });
  test("cancelMove parses what was held", () => {
    const { session, events } = setup();
    session.prepareToMove();
    session.receive(frame({ op: OP_TEXT, payload: "held" }));
    expect(events).toEqual([]);
    session.cancelMove();
    expect(events).toEqual(["text:held"]);
  });
  test("held bytes are bounded: wantsInput turns false past maxHeldBytes", () => {
    const { session } = setup({ maxHeldBytes: 100 });
    session.prepareToMove();
    session.receive(frame({ op: OP_BINARY, payload: new Uint8Array(90) }));
    expect(session.wantsInput).toBe(true);
    session.receive(frame({ op: OP_BINARY, payload: new Uint8Array(20) }));
    expect(session.wantsInput).toBe(false);
  });
  test("closeForRestart closes with 1012", () => {
    const { session, transport, events } = setup();
    session.prepareToMove();
    session.receive(frame({ op: OP_TEXT, payload: "abc" }).subarray(0, 5));
    session.closeForRestart();
    expect(transport.take().map(closeFrame)).toEqual([{ op: OP_CLOSE, code: 1012, reason: "service restart" }]);
    expect(events).toEqual(["close:1012:service restart"]);
  });
  test("a bad record is refused with the field and the peer named", () => {
    expect(() => parseMovedWebSocket({ v: 1, url: "not a url", headers: [], protocol: "", extensions: "", held: "", attached: null }, "generation 3")).toThrow(/generation 3.*url/);
    expect(() => parseMovedWebSocket({ v: 2 }, "g")).toThrow(/invalid moved WebSocket/);
  });
});
