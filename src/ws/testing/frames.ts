// Test helpers: build client frames byte by byte (masked unless told otherwise, any length
// encoding), so a test states exactly what goes on the wire.

export interface FrameSpec {
  op: number;
  payload?: Uint8Array | string;
  fin?: boolean;
  /** RSV1-3 as bits 0x40, 0x20, 0x10. */
  rsv?: number;
  /** The 4 mask bytes; null for an unmasked frame. */
  mask?: number[] | null;
  /** Force a length encoding: 7-bit, 16-bit or 64-bit (non-minimal when the payload is short). */
  lengthBytes?: 0 | 2 | 8;
  /** Write this length instead of the payload's (for lies about the length). */
  declaredLength?: number | bigint;
}

const DEFAULT_MASK = [0x37, 0xfa, 0x21, 0x3d];

export function frame(s: FrameSpec): Uint8Array {
  const payload = typeof s.payload === "string" ? new TextEncoder().encode(s.payload) : (s.payload ?? new Uint8Array(0));
  const len = s.declaredLength ?? payload.length;
  const mask = s.mask === undefined ? DEFAULT_MASK : s.mask;
  const lb = s.lengthBytes ?? (Number(len) < 126 ? 0 : Number(len) < 0x10000 ? 2 : 8);
  const out: number[] = [((s.fin ?? true) ? 0x80 : 0) | (s.rsv ?? 0) | s.op];
  const maskBit = mask ? 0x80 : 0;
  if (lb === 0) out.push(maskBit | Number(len));
  else if (lb === 2) out.push(maskBit | 126, (Number(len) >> 8) & 0xff, Number(len) & 0xff);
  else {
    out.push(maskBit | 127);
    const big = BigInt(len);
    for (let i = 7; i >= 0; i--) out.push(Number((big >> BigInt(i * 8)) & 0xffn));
  }
  if (mask) out.push(...mask);
  const bytes = new Uint8Array(out.length + payload.length);
  bytes.set(out, 0);
  for (let i = 0; i < payload.length; i++) bytes[out.length + i] = mask ? payload[i]! ^ mask[i & 3]! : payload[i]!;
  return bytes;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function closePayload(code: number, reason: string | Uint8Array = ""): Uint8Array {
  const r = typeof reason === "string" ? new TextEncoder().encode(reason) : reason;
  return concat(new Uint8Array([code >> 8, code & 0xff]), r);
}

/** Reads the server's (unmasked) frames back: [opcode, fin, payload] each. */
export function readServerFrames(bytes: Uint8Array): { op: number; fin: boolean; payload: Buffer }[] {
  const out: { op: number; fin: boolean; payload: Buffer }[] = [];
  let i = 0;
  while (i < bytes.length) {
    const b0 = bytes[i]!;
    const b1 = bytes[i + 1]!;
    if (b1 & 0x80) throw new Error("server frame is masked");
    let len = b1 & 0x7f;
    let h = 2;
    if (len === 126) {
      len = (bytes[i + 2]! << 8) | bytes[i + 3]!;
      h = 4;
    } else if (len === 127) {
      len = Number(Buffer.from(bytes.subarray(i + 2, i + 10)).readBigUInt64BE());
      h = 10;
    }
    if (i + h + len > bytes.length) throw new Error("truncated server frame");
    out.push({ op: b0 & 0x0f, fin: (b0 & 0x80) !== 0, payload: Buffer.from(bytes.subarray(i + h, i + h + len)) });
    i += h + len;
  }
  return out;
}
