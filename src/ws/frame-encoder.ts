// The server-to-client half of RFC 6455 §5: frames are never masked (§5.1) and use the shortest
// length encoding (§5.2). A frame leaves as one Buffer (header and payload together) so the
// session hands the transport one write per frame.
import { MAX_CLOSE_REASON_BYTES, MAX_CONTROL_PAYLOAD, OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT } from "./protocol.ts";

/** Header bytes for a payload of `len` bytes. */
export function headerSize(len: number): number {
  return len < 126 ? 2 : len < 0x10000 ? 4 : 10;
}

/** Writes an unmasked header for (fin, opcode, len) at out[0..]; returns its size. `rsv1`: compressed (RFC 7692). */
export function writeHeader(out: Uint8Array, fin: boolean, opcode: number, len: number, rsv1 = false): number {
  out[0] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode;
  if (len < 126) {
    out[1] = len;
    return 2;
  }
  if (len < 0x10000) {
    out[1] = 126;
    out[2] = len >>> 8;
    out[3] = len & 0xff;
    return 4;
  }
  out[1] = 127;
  const hi = Math.floor(len / 0x1_0000_0000);
  const lo = len >>> 0;
  out[2] = hi >>> 24;
  out[3] = (hi >>> 16) & 0xff;
  out[4] = (hi >>> 8) & 0xff;
  out[5] = hi & 0xff;
  out[6] = lo >>> 24;
  out[7] = (lo >>> 16) & 0xff;
  out[8] = (lo >>> 8) & 0xff;
  out[9] = lo & 0xff;
  return 10;
}

/** One frame: header + payload in one Buffer. */
export function encodeFrame(opcode: number, payload: Uint8Array, fin = true, rsv1 = false): Buffer {
  const len = payload.byteLength;
  const h = headerSize(len);
  const out = Buffer.allocUnsafe(h + len);
  writeHeader(out, fin, opcode, len, rsv1);
  out.set(payload, h);
  return out;
}

/** A text frame, encoding the string straight into the frame buffer (no intermediate copy). */
export function encodeText(text: string): Buffer {
  const len = Buffer.byteLength(text, "utf8");
  const h = headerSize(len);
  const out = Buffer.allocUnsafe(h + len);
  writeHeader(out, true, OP_TEXT, len);
  out.write(text, h, "utf8");
  return out;
}

export function encodeBinary(data: Uint8Array): Buffer {
  return encodeFrame(OP_BINARY, data);
}

/**
 * A message as frames of at most `fragmentBytes` payload each (first frame carries the opcode,
 * the rest are continuations; RFC 6455 §5.4). Lets a huge send interleave with pings.
 */
export function encodeFragmented(opcode: typeof OP_TEXT | typeof OP_BINARY, payload: Uint8Array, fragmentBytes: number): Buffer[] {
  if (fragmentBytes < 1) throw new RangeError(`fragmentBytes must be at least 1 (got ${fragmentBytes})`);
  const frames: Buffer[] = [];
  let off = 0;
  do {
    const n = Math.min(fragmentBytes, payload.byteLength - off);
    const last = off + n >= payload.byteLength;
    frames.push(encodeFrame(off === 0 ? opcode : OP_CONTINUATION, payload.subarray(off, off + n), last));
    off += n;
  } while (off < payload.byteLength);
  return frames;
}

function controlPayload(what: string, payload: Uint8Array | string): Uint8Array {
  const bytes = typeof payload === "string" ? Buffer.from(payload, "utf8") : payload;
  if (bytes.byteLength > MAX_CONTROL_PAYLOAD) throw new RangeError(`a ${what} payload is at most ${MAX_CONTROL_PAYLOAD} bytes (RFC 6455 §5.5), got ${bytes.byteLength}`);
  return bytes;
}

export function encodePing(payload: Uint8Array | string = ""): Buffer {
  return encodeFrame(OP_PING, controlPayload("ping", payload));
}

export function encodePong(payload: Uint8Array | string = ""): Buffer {
  return encodeFrame(OP_PONG, controlPayload("pong", payload));
}

/**
 * A close frame. No code: an empty payload (the peer reports 1005). The reason is cut at a
 * character boundary to fit the 123 bytes a control frame leaves after the code, so a long
 * app-given reason never makes an invalid frame.
 */
export function encodeClose(code?: number, reason = ""): Buffer {
  if (code === undefined) return encodeFrame(OP_CLOSE, new Uint8Array(0));
  const r = truncateUtf8(reason, MAX_CLOSE_REASON_BYTES);
  const payload = Buffer.allocUnsafe(2 + r.byteLength);
  payload[0] = code >>> 8;
  payload[1] = code & 0xff;
  payload.set(r, 2);
  return encodeFrame(OP_CLOSE, payload);
}

/** The UTF-8 bytes of `s`, cut to at most `max` bytes without splitting a character. */
export function truncateUtf8(s: string, max: number): Buffer {
  const b = Buffer.from(s, "utf8");
  if (b.byteLength <= max) return b;
  let end = max;
  while (end > 0 && (b[end]! & 0xc0) === 0x80) end--;
  return b.subarray(0, end);
}
