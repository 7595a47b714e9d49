// Server frames: never masked, shortest length encoding at every boundary, control payload
// limits, close reasons cut at a character boundary, fragmentation.
import { expect, test } from "bun:test";
import { encodeBinary, encodeClose, encodeFragmented, encodePing, encodePong, encodeText, truncateUtf8 } from "./frame-encoder.ts";
import { OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT } from "./protocol.ts";
import { readServerFrames } from "./testing/frames.ts";

test("length encodings are minimal at each boundary, and frames are unmasked", () => {
  const cases: [number, number, number][] = [
    [0, 2, 0],
    [125, 2, 125],
    [126, 4, 126],
    [65535, 4, 126],
    [65536, 10, 127],
    [70000, 10, 127],
  ];
  for (const [len, headerBytes, code] of cases) {
    const f = encodeBinary(new Uint8Array(len).fill(9));
    expect(f.length).toBe(headerBytes + len);
    expect(f[0]).toBe(0x80 | OP_BINARY);
    expect(f[1]).toBe(code); // mask bit clear
    const [back] = readServerFrames(f);
    expect(back!.payload.length).toBe(len);
  }
});

test("text is encoded as UTF-8 straight into the frame", () => {
  const f = encodeText("é€𝄞");
  expect(readServerFrames(f)).toEqual([{ op: OP_TEXT, fin: true, payload: Buffer.from("é€𝄞") }]);
});

test("ping and pong carry up to 125 bytes; more is refused with the RFC's reason", () => {
  expect(readServerFrames(encodePing("x"))[0]!.op).toBe(OP_PING);
  expect(readServerFrames(encodePong(new Uint8Array(125)))[0]!.payload.length).toBe(125);
  expect(() => encodePing(new Uint8Array(126))).toThrow(/at most 125 bytes/);
});

test("close: empty without a code; code + reason cut to 123 bytes at a character boundary", () => {
  expect(readServerFrames(encodeClose())[0]).toEqual({ op: OP_CLOSE, fin: true, payload: Buffer.alloc(0) });
  const f = readServerFrames(encodeClose(1001, "€".repeat(50)))[0]!;
  expect(f.payload.readUInt16BE(0)).toBe(1001);
  expect(f.payload.length).toBe(2 + 123);
  expect(f.payload.subarray(2).toString()).toBe("€".repeat(41));
  expect(truncateUtf8("a€", 3).toString()).toBe("a");
  expect(truncateUtf8("a€", 4).toString()).toBe("a€");
});

test("fragmentation: first frame has the opcode, the rest are continuations, only the last has FIN", () => {
  const frames = encodeFragmented(OP_BINARY, Uint8Array.from({ length: 10 }, (_, i) => i), 4).map((b) => readServerFrames(b)[0]!);
  expect(frames.map((f) => [f.op, f.fin, [...f.payload]])).toEqual([
    [OP_BINARY, false, [0, 1, 2, 3]],
    [OP_CONTINUATION, false, [4, 5, 6, 7]],
    [OP_CONTINUATION, true, [8, 9]],
  ]);
  expect(encodeFragmented(OP_TEXT, new Uint8Array(0), 4).length).toBe(1);
  expect(() => encodeFragmented(OP_TEXT, new Uint8Array(1), 0)).toThrow(/at least 1/);
});
