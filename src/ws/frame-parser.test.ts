// The frame parser against tables of valid and invalid client input. Every valid stream is also
// fed at every split point and byte by byte: the events must not depend on how TCP cut it.
import { describe, expect, test } from "bun:test";
import { FrameParser, type FrameHandler } from "./frame-parser.ts";
import { OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT, WsProtocolError } from "./protocol.ts";
import { closePayload, concat, frame } from "./testing/frames.ts";

type Outcome = { events: string[]; error: number | null; why?: string };

function recorder(events: string[]): FrameHandler {
  return {
    onText: (t) => events.push(`text:${JSON.stringify(t)}`),
    onBinary: (b) => {
      // Bun hands binary messages over as a Buffer over exactly the message's bytes.
      expect(b.buffer.byteLength).toBe(b.length);
      events.push(`binary:${b.toString("hex")}`);
    },
    onPing: (p) => events.push(`ping:${p.toString("hex")}`),
    onPong: (p) => events.push(`pong:${p.toString("hex")}`),
    onClose: (code, reason) => events.push(`close:${code}:${JSON.stringify(reason)}`),
  };
}

function parse(chunks: Uint8Array[], maxMessageBytes = 1 << 20): Outcome {
  const events: string[] = [];
  const p = new FrameParser(recorder(events), { maxMessageBytes });
  try {
    for (const c of chunks) expect(p.push(c)).toBe(c.length);
  } catch (e) {
    if (!(e instanceof WsProtocolError)) throw e;
    return { events, error: e.closeCode, why: e.message };
  }
  return { events, error: null };
}

/** Every way of cutting `bytes` in two, and byte by byte, gives the same outcome as one chunk. */
function expectSplitInvariant(bytes: Uint8Array, maxMessageBytes?: number): Outcome {
  const whole = parse([bytes], maxMessageBytes);
  const strip = (o: Outcome) => ({ events: o.events, error: o.error });
  // Every cut for short streams; for long ones every cut in the first and last 300 bytes (the
  // headers and the end) and a spread in between, to keep the test fast.
  for (let cut = 0; cut <= bytes.length; cut += bytes.length <= 2000 || cut < 300 || cut > bytes.length - 300 ? 1 : 997) {
    expect(strip(parse([bytes.subarray(0, cut), bytes.subarray(cut)], maxMessageBytes))).toEqual(strip(whole));
  }
  const single: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i++) single.push(bytes.subarray(i, i + 1));
  expect(strip(parse(single, maxMessageBytes))).toEqual(strip(whole));
  return whole;
}

const bytes = (...b: number[]) => new Uint8Array(b);
const utf8 = (s: string) => new TextEncoder().encode(s);
const big = (n: number, seed = 7) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

describe("valid client input parses the same at every split", () => {
  const cases: [string, Uint8Array, string[]][] = [
    ["short text", frame({ op: OP_TEXT, payload: "Hello" }), ['text:"Hello"']],
    ["empty text", frame({ op: OP_TEXT }), ['text:""']],
    ["empty binary", frame({ op: OP_BINARY }), ["binary:"]],
    ["multibyte text", frame({ op: OP_TEXT, payload: "héllo €𝄞" }), ['text:"héllo €𝄞"']],
    ["binary", frame({ op: OP_BINARY, payload: bytes(0, 1, 2, 255) }), ["binary:000102ff"]],
    ["126-byte text (16-bit length)", frame({ op: OP_TEXT, payload: "a".repeat(126) }), [`text:"${"a".repeat(126)}"`]],
    ["65536-byte binary (64-bit length)", frame({ op: OP_BINARY, payload: big(65536) }), [`binary:${Buffer.from(big(65536)).toString("hex")}`]],
    ["non-minimal 16-bit length (ws and Bun accept it)", frame({ op: OP_TEXT, payload: "A", lengthBytes: 2 }), ['text:"A"']],
    ["non-minimal 64-bit length", frame({ op: OP_TEXT, payload: "A", lengthBytes: 8 }), ['text:"A"']],
    ["zero mask", frame({ op: OP_TEXT, payload: "zero", mask: [0, 0, 0, 0] }), ['text:"zero"']],
    [
      "fragmented text with a ping in the middle",
      concat(frame({ op: OP_TEXT, payload: "Hel", fin: false }), frame({ op: OP_PING, payload: "p" }), frame({ op: OP_CONTINUATION, payload: "lo", fin: false }), frame({ op: OP_CONTINUATION, payload: "!" })),
      ["ping:70", 'text:"Hello!"'],
    ],
    [
      "fragmented binary with empty fragments",
      concat(frame({ op: OP_BINARY, fin: false }), frame({ op: OP_CONTINUATION, payload: bytes(1), fin: false }), frame({ op: OP_CONTINUATION, fin: false }), frame({ op: OP_CONTINUATION, payload: bytes(2) })),
      ["binary:0102"],
    ],
    ["text split inside a character across fragments", concat(frame({ op: OP_TEXT, payload: utf8("€").subarray(0, 1), fin: false }), frame({ op: OP_CONTINUATION, payload: utf8("€").subarray(1) })), ['text:"€"']],
    ["ping and pong with payloads", concat(frame({ op: OP_PING, payload: "abc" }), frame({ op: OP_PONG, payload: bytes(9) }), frame({ op: OP_PING })), ["ping:616263", "pong:09", "ping:"]],
    ["125-byte ping", frame({ op: OP_PING, payload: big(125) }), [`ping:${Buffer.from(big(125)).toString("hex")}`]],
    ["close without status", frame({ op: OP_CLOSE }), ['close:1005:""']],
    ["close with code", frame({ op: OP_CLOSE, payload: closePayload(1000) }), ['close:1000:""']],
    ["close with code and reason", frame({ op: OP_CLOSE, payload: closePayload(4000, "bye ✓") }), ['close:4000:"bye ✓"']],
    ["close with a 123-byte reason", frame({ op: OP_CLOSE, payload: closePayload(1001, "r".repeat(123)) }), [`close:1001:"${"r".repeat(123)}"`]],
    ["bytes after close are ignored, even invalid ones", concat(frame({ op: OP_CLOSE, payload: closePayload(1000) }), frame({ op: OP_TEXT, payload: "late", mask: null })), ['close:1000:""']],
    ["many frames in one chunk", concat(...Array.from({ length: 50 }, (_, i) => frame({ op: OP_TEXT, payload: String(i) }))), Array.from({ length: 50 }, (_, i) => `text:"${i}"`)],
  ];
  for (const [name, input, events] of cases) {
    test(name, () => {
      const out = expectSplitInvariant(input);
      expect(out).toEqual({ events, error: null });
    });
  }
});

describe("invalid client input fails with the RFC's close code", () => {
  const hello = "Hello";
  const cases: [string, Uint8Array, number][] = [
    ["unmasked frame (RFC 6455 §5.1)", frame({ op: OP_TEXT, payload: hello, mask: null }), 1002],
    ["RSV1 without an extension", frame({ op: OP_TEXT, payload: hello, rsv: 0x40 }), 1002],
    ["RSV2", frame({ op: OP_TEXT, payload: hello, rsv: 0x20 }), 1002],
    ["RSV3", frame({ op: OP_TEXT, payload: hello, rsv: 0x10 }), 1002],
    ["RSV1 on a control frame", frame({ op: OP_PING, rsv: 0x40 }), 1002],
    ...[3, 4, 5, 6, 7].map((op): [string, Uint8Array, number] => [`reserved data opcode ${op}`, frame({ op, payload: hello }), 1002]),
    ...[0xb, 0xc, 0xd, 0xe, 0xf].map((op): [string, Uint8Array, number] => [`reserved control opcode 0x${op.toString(16)}`, frame({ op }), 1002]),
    ["continuation without a message", frame({ op: OP_CONTINUATION, payload: hello }), 1002],
    ["text frame inside a fragmented message", concat(frame({ op: OP_TEXT, payload: "a", fin: false }), frame({ op: OP_TEXT, payload: "b" })), 1002],
    ["binary frame inside a fragmented message", concat(frame({ op: OP_BINARY, payload: "a", fin: false }), frame({ op: OP_BINARY, payload: "b" })), 1002],
    ["fragmented ping", frame({ op: OP_PING, fin: false }), 1002],
    ["fragmented close", frame({ op: OP_CLOSE, fin: false }), 1002],
    ["ping of 126 bytes (16-bit length)", frame({ op: OP_PING, payload: big(126) }), 1002],
    ["ping claiming 126 bytes, none sent", frame({ op: OP_PING, declaredLength: 126, lengthBytes: 2 }).subarray(0, 4), 1002],
    ["pong of 200 bytes", frame({ op: OP_PONG, payload: big(200) }), 1002],
    ["64-bit length with the top bit set", frame({ op: OP_BINARY, declaredLength: 1n << 63n, lengthBytes: 8 }), 1002],
    ["close with a 1-byte payload", frame({ op: OP_CLOSE, payload: bytes(3) }), 1002],
    ["close reason not UTF-8", frame({ op: OP_CLOSE, payload: closePayload(1000, bytes(0xff)) }), 1007],
    ["close reason with a surrogate", frame({ op: OP_CLOSE, payload: closePayload(1000, bytes(0xed, 0xa0, 0x80)) }), 1007],
    ["text not UTF-8", frame({ op: OP_TEXT, payload: bytes(0xff) }), 1007],
    ["text cut inside a character at the end of the message", frame({ op: OP_TEXT, payload: bytes(0x41, 0xe2, 0x82) }), 1007],
    ["fragmented text ending inside a character", concat(frame({ op: OP_TEXT, payload: bytes(0xe2), fin: false }), frame({ op: OP_CONTINUATION, payload: bytes(0x82) })), 1007],
    ["fragmented text, invalid in the second fragment", concat(frame({ op: OP_TEXT, payload: "ok", fin: false }), frame({ op: OP_CONTINUATION, payload: bytes(0xc0, 0x80) })), 1007],
  ];
  for (const [name, input, code] of cases) {
    test(`${name} → ${code}`, () => {
      const out = expectSplitInvariant(input);
      expect(out.error).toBe(code);
      expect(out.why!.length).toBeGreaterThan(10);
    });
  }

  test("close codes: every code 0–5999 is accepted exactly when the RFC and IANA allow it on the wire", () => {
    const accepted: number[] = [];
    for (let code = 0; code < 6000; code++) {
      const out = parse([frame({ op: OP_CLOSE, payload: closePayload(code) })]);
      if (out.error === null) accepted.push(code);
      else expect(out.error).toBe(1002);
    }
    const expected = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014];
    for (let c = 3000; c <= 4999; c++) expected.push(c);
    expect(accepted).toEqual(expected);
  });

  test("a text message fails fast: invalid UTF-8 in the first fragment fails before the message ends", () => {
    const out = parse([frame({ op: OP_TEXT, payload: bytes(0x61, 0xf8), fin: false })]);
    expect(out.error).toBe(1007);
  });

  test("invalid UTF-8 in a partly received frame fails before the frame ends", () => {
    const f = frame({ op: OP_TEXT, payload: concat(bytes(0xff), big(1000)) });
    expect(parse([f.subarray(0, 9)]).error).toBe(1007);
  });

  test("nothing is reported after an error, and further input is ignored", () => {
    const events: string[] = [];
    const p = new FrameParser(recorder(events), { maxMessageBytes: 1024 });
    expect(() => p.push(frame({ op: OP_TEXT, payload: "x", mask: null }))).toThrow(WsProtocolError);
    expect(p.push(frame({ op: OP_TEXT, payload: "y" }))).toBeGreaterThan(0);
    expect(events).toEqual([]);
  });
});

describe("maximum message size → 1009", () => {
  test("one frame over the limit fails at its header, before the payload arrives", () => {
    const f = frame({ op: OP_BINARY, payload: big(101) });
    expect(parse([f.subarray(0, 8)], 100).error).toBe(1009);
    expect(expectSplitInvariant(frame({ op: OP_BINARY, payload: big(100) }), 100).error).toBe(null);
  });
  test("fragments adding up to more than the limit", () => {
    const input = concat(frame({ op: OP_TEXT, payload: "a".repeat(60), fin: false }), frame({ op: OP_CONTINUATION, payload: "b".repeat(41) }));
    expect(expectSplitInvariant(input, 100).error).toBe(1009);
  });
  test("a 2^53-byte length is 1009, not a crash", () => {
    expect(parse([frame({ op: OP_BINARY, declaredLength: 2n ** 53n, lengthBytes: 8 })]).error).toBe(1009);
  });
  test("control frames do not count towards the message size", () => {
    const input = concat(frame({ op: OP_TEXT, payload: "a".repeat(100), fin: false }), frame({ op: OP_PING, payload: big(125) }), frame({ op: OP_CONTINUATION }));
    expect(parse([input], 100).error).toBe(null);
  });
});

describe("large and fragmented messages", () => {
  test("a 1 MiB binary message arriving in odd-sized chunks is unmasked correctly", () => {
    const payload = big(1 << 20, 3);
    const f = frame({ op: OP_BINARY, payload, mask: [1, 2, 3, 4] });
    const chunks: Uint8Array[] = [];
    for (let i = 0, step = 1; i < f.length; i += step, step = (step * 7 + 3) % 9000 || 1) chunks.push(f.subarray(i, i + step));
    const out = parse(chunks, 2 << 20);
    expect(out.error).toBe(null);
    expect(out.events).toEqual([`binary:${Buffer.from(payload).toString("hex")}`]);
  });
  test("a text message of 300 fragments at every mask phase", () => {
    const text = "ünïcødé ✓ ".repeat(100);
    const b = utf8(text);
    const parts: Uint8Array[] = [];
    for (let i = 0; i < b.length; i += 7) parts.push(frame({ op: i === 0 ? OP_TEXT : OP_CONTINUATION, payload: b.subarray(i, i + 7), fin: i + 7 >= b.length, mask: [i & 0xff, 5, 9, 200] }));
    const out = parse(parts);
    expect(out).toEqual({ events: [`text:${JSON.stringify(text)}`], error: null });
  });
});

describe("stopping at a message boundary (for a move)", () => {
  test("push returns at the first boundary once stopAtBoundary is set, and the rest parses later", () => {
    const events: string[] = [];
    const p = new FrameParser(recorder(events), { maxMessageBytes: 1024 });
    const a = concat(frame({ op: OP_TEXT, payload: "one", fin: false }), frame({ op: OP_PING, payload: "p" }), frame({ op: OP_CONTINUATION, payload: "!" }));
    const b = frame({ op: OP_TEXT, payload: "two" });
    const input = concat(a, b);
    // Set while the fragmented message is half read: a parser already at a boundary stops at once.
    expect(p.push(input, 0, 5)).toBe(5);
    p.stopAtBoundary = true;
    const n = p.push(input, 5);
    // The ping inside the fragmented message is not a boundary: parsing runs on to the message's end.
    expect(n).toBe(a.length);
    expect(events).toEqual(["ping:70", 'text:"one!"']);
    expect(p.atMessageBoundary).toBe(true);
    expect(p.push(input, n)).toBe(n);
    p.stopAtBoundary = false;
    expect(p.push(input, n)).toBe(input.length);
    expect(events).toEqual(["ping:70", 'text:"one!"', 'text:"two"']);
  });
  test("a partial frame is not a boundary", () => {
    const p = new FrameParser(recorder([]), { maxMessageBytes: 1024 });
    p.push(frame({ op: OP_TEXT, payload: "abc" }).subarray(0, 3));
    expect(p.atMessageBoundary).toBe(false);
  });
});
