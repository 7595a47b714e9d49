// The client-to-server half of RFC 6455 §5: a strict, incremental frame parser. Bytes arrive in
// whatever pieces TCP makes; any split gives the same events. Every rule a client can break
// fails the connection with the close code the RFC (and ws, and Bun) use: 1002 for framing,
// 1007 for bad UTF-8, 1009 for a message over the limit.
//
// Allocation: a frame header is read in place when it is whole in the chunk (else up to 14 bytes
// are kept); a data payload is copied once, unmasked while copied, into one buffer per message
// (binary: sized to the message, so the app may keep it; text: a reused scratch, since the app gets
// a string). Control payloads go through a fixed 125-byte buffer.
import {
  MAX_CONTROL_PAYLOAD,
  OP_BINARY,
  OP_CLOSE,
  OP_CONTINUATION,
  OP_PING,
  OP_PONG,
  OP_TEXT,
  CloseCode,
  WsProtocolError,
  isValidWireCloseCode,
} from "./protocol.ts";
import { UTF8_ACCEPT, UTF8_REJECT, utf8Validate, type Utf8State } from "./utf8.ts";
import { decompressMessage } from "./deflate.ts";

/** What a parser reports, in wire order. Each call may halt the parser (see FrameParser.halt). */
export interface FrameHandler {
  onText(text: string): void;
  /** A fresh Buffer over its own ArrayBuffer (buffer.byteLength === message length), like Bun's. */
  onBinary(data: Buffer): void;
  onPing(payload: Buffer): void;
  onPong(payload: Buffer): void;
  /** The client's close frame: `code` is 1005 when it carried none. Parsing ends here. */
  onClose(code: number, reason: string): void;
}

export interface FrameParserOptions {
  /** Largest message, all fragments together (compressed and after inflating); 1009 beyond. */
  maxMessageBytes: number;
  /** permessage-deflate was negotiated (deflate.ts): RSV1 on a message's first frame means compressed. */
  deflate?: boolean;
}

/** Text scratch buffers up to this size are kept for the next message; larger ones are dropped. */
const KEEP_SCRATCH_BYTES = 64 * 1024;
/** First capacity of a fragmented message's buffer when its first fragment is smaller. */
const MIN_FRAGMENTED_CAPACITY = 1024;
/** Below this many bytes, unmasking byte by byte beats memcpy + a 32-bit pass (measured with bench/ws/echo-core.ts). */
const WORD_UNMASK_MIN = 64;

const enum Phase {
  Header,
  Payload,
  /** The close frame was parsed: bytes after it are ignored (RFC 6455 §5.5.1). */
  Closed,
  /** A protocol error was thrown: nothing more is parsed. */
  Failed,
}

const fatal = (code: number, why: string): never => {
  throw new WsProtocolError(code, why);
};

export class FrameParser {
  private phase = Phase.Header;
  /** Header bytes of a frame whose header was cut by a chunk boundary. */
  private readonly hdr = Buffer.alloc(14);
  private hdrLen = 0;

  // The frame being read.
  private fin = false;
  private opcode = 0;
  private readonly mask = new Uint8Array(4);
  /** Payload bytes of the current frame still to come. */
  private left = 0;
  /** Mask index (0-3) of the next payload byte. */
  private maskPos = 0;

  // The data message being assembled (msgOpcode 0: none).
  private msgOpcode = 0;
  private msg: Buffer = Buffer.alloc(0);
  private msgLen = 0;
  private utf8: Utf8State = UTF8_ACCEPT;
  /** The message's first frame had RSV1 (permessage-deflate). */
  private compressed = false;
  /** Bytes of the message validated so far. */
  private validated = 0;
  /** Reused for text messages up to KEEP_SCRATCH_BYTES (allocated on the first one). */
  private scratch: Buffer = Buffer.alloc(0);

  // The control frame being assembled.
  private readonly ctl = Buffer.alloc(MAX_CONTROL_PAYLOAD);
  private ctlLen = 0;

  private halted = false;
  /** When true, push() stops at the next message boundary and returns how much it consumed. */
  stopAtBoundary = false;

  constructor(
    private readonly handler: FrameHandler,
    private readonly options: FrameParserOptions,
  ) {}

  /**
   * At a frame boundary with no fragmented message open: no byte of an unfinished frame or
   * message is held, so the connection can move (or the parser be replaced) here.
   */
  get atMessageBoundary(): boolean {
    return this.phase === Phase.Header && this.hdrLen === 0 && this.msgOpcode === 0;
  }

  /** The client's close frame was parsed (later bytes are ignored). */
  get closed(): boolean {
    return this.phase === Phase.Closed;
  }

  /** Makes the current push() return right after the handler call that is running. */
  halt(): void {
    this.halted = true;
  }

  /**
   * Parses chunk[from, end). Returns how many bytes it consumed: all of them, unless
   * `stopAtBoundary` or halt() stopped it (the rest is the caller's to keep) or the close frame
   * ended parsing (the rest is ignored, and counted as consumed). Throws WsProtocolError.
   */
  push(chunk: Uint8Array, from = 0, end = chunk.length): number {
    if (this.phase === Phase.Failed) return end;
    this.halted = false;
    try {
      return this.run(chunk, from, end);
    } catch (e) {
      this.phase = Phase.Failed;
      throw e;
    }
  }

  private run(chunk: Uint8Array, from: number, end: number): number {
    const i = this.scan(chunk, from, end);
    return this.phase === Phase.Closed ? end : i;
  }

  private scan(chunk: Uint8Array, from: number, end: number): number {
    let i = from;
    while (i < end) {
      if (this.phase === Phase.Closed) return end;
      if (this.phase === Phase.Header) {
        if (this.stopAtBoundary && this.atMessageBoundary) return i;
        if (this.hdrLen === 0) {
          const n = this.header(chunk, i, end - i);
          if (n > 0) {
            i += n;
          } else {
            this.hdr.set(chunk.subarray(i, end), 0);
            this.hdrLen = end - i;
            return end;
          }
        } else {
          const take = Math.min(14 - this.hdrLen, end - i);
          this.hdr.set(chunk.subarray(i, i + take), this.hdrLen);
          const n = this.header(this.hdr, 0, this.hdrLen + take);
          if (n === 0) {
            this.hdrLen += take;
            return end;
          }
          i += n - this.hdrLen;
          this.hdrLen = 0;
        }
        if (this.left === 0 && this.endFrame()) return i;
        continue;
      }
      // Payload.
      const take = Math.min(this.left, end - i);
      if (this.opcode >= 8) {
        unmaskInto(this.ctl, this.ctlLen, chunk, i, take, this.mask, this.maskPos);
        this.ctlLen += take;
      } else {
        this.appendData(chunk, i, take);
      }
      this.maskPos = (this.maskPos + take) & 3;
      this.left -= take;
      i += take;
      if (this.left === 0 && this.endFrame()) return i;
    }
    return i;
  }

  /** Validates and consumes a frame header at buf[off, off+avail); 0 if it is not complete yet. */
  private header(buf: Uint8Array, off: number, avail: number): number {
    if (avail < 2) return 0;
    const b0 = buf[off]!;
    const b1 = buf[off + 1]!;
    const opcode = b0 & 0x0f;
    const fin = (b0 & 0x80) !== 0;
    const rsv = b0 & 0x70;
    if (rsv !== 0) {
      if (rsv !== 0x40 || !this.options.deflate) fatal(CloseCode.protocolError, `RSV bits set (0x${rsv.toString(16)}) but no extension was negotiated that defines them`);
      if (opcode !== OP_TEXT && opcode !== OP_BINARY) fatal(CloseCode.protocolError, "RSV1 (compressed) is only allowed on the first frame of a data message (RFC 7692 §6)");
    }
    const len7 = b1 & 0x7f;
    if (opcode >= 8) {
      if (opcode !== OP_CLOSE && opcode !== OP_PING && opcode !== OP_PONG) fatal(CloseCode.protocolError, `unknown control opcode 0x${opcode.toString(16)}`);
      if (!fin) fatal(CloseCode.protocolError, "a control frame must not be fragmented (FIN clear)");
      if (len7 > MAX_CONTROL_PAYLOAD) fatal(CloseCode.protocolError, `a control frame's payload is at most 125 bytes (length code ${len7})`);
    } else if (opcode === OP_CONTINUATION) {
      if (this.msgOpcode === 0) fatal(CloseCode.protocolError, "a continuation frame without a message to continue");
    } else if (opcode === OP_TEXT || opcode === OP_BINARY) {
      if (this.msgOpcode !== 0) fatal(CloseCode.protocolError, "a new data frame while a fragmented message is unfinished");
    } else {
      fatal(CloseCode.protocolError, `unknown data opcode 0x${opcode.toString(16)}`);
    }
    if ((b1 & 0x80) === 0) fatal(CloseCode.protocolError, "a client frame must be masked (RFC 6455 §5.1)");
    const hl = len7 === 126 ? 8 : len7 === 127 ? 14 : 6;
    if (avail < hl) {
      // Fail a 64-bit length with the top bit set as soon as its first byte is here.
      if (len7 === 127 && avail >= 3 && (buf[off + 2]! & 0x80) !== 0) fatal(CloseCode.protocolError, "the most significant bit of a 64-bit payload length must be 0");
      return 0;
    }
    let len: number;
    // Non-minimal length encodings are accepted, as ws and Bun (uWebSockets) accept them.
    if (len7 === 126) len = (buf[off + 2]! << 8) | buf[off + 3]!;
    else if (len7 === 127) {
      const hi = ((buf[off + 2]! << 24) | (buf[off + 3]! << 16) | (buf[off + 4]! << 8) | buf[off + 5]!) >>> 0;
      if (hi >= 0x80000000) fatal(CloseCode.protocolError, "the most significant bit of a 64-bit payload length must be 0");
      const lo = ((buf[off + 6]! << 24) | (buf[off + 7]! << 16) | (buf[off + 8]! << 8) | buf[off + 9]!) >>> 0;
      len = hi * 0x1_0000_0000 + lo;
    } else len = len7;
    if (opcode < 8 && this.msgLen + len > this.options.maxMessageBytes)
      fatal(CloseCode.messageTooBig, `message of more than ${this.options.maxMessageBytes} bytes (the server's maxMessageBytes)`);
    const m = off + hl - 4;
    this.mask[0] = buf[m]!;
    this.mask[1] = buf[m + 1]!;
    this.mask[2] = buf[m + 2]!;
    this.mask[3] = buf[m + 3]!;
    this.maskPos = 0;
    this.fin = fin;
    this.opcode = opcode;
    this.left = len;
    this.phase = Phase.Payload;
    if (opcode >= 8) this.ctlLen = 0;
    else if (opcode !== OP_CONTINUATION) this.startMessage(opcode, len, rsv !== 0);
    return hl;
  }

  private startMessage(opcode: number, firstFrameLen: number, compressed: boolean): void {
    this.msgOpcode = opcode;
    this.compressed = compressed;
    this.msgLen = 0;
    this.utf8 = UTF8_ACCEPT;
    this.validated = 0;
    const capacity = this.fin ? firstFrameLen : Math.min(Math.max(firstFrameLen * 2, MIN_FRAGMENTED_CAPACITY), this.options.maxMessageBytes);
    // Text becomes a string and compressed bytes are inflated into a new buffer: either way the
    // bytes read need not outlive the message, so the scratch serves.
    if ((opcode === OP_TEXT || compressed) && capacity <= KEEP_SCRATCH_BYTES) {
      // Grows in powers of two, so a connection that only sends short texts holds a short buffer.
      if (this.scratch.length < capacity) this.scratch = Buffer.allocUnsafeSlow(Math.max(256, 2 ** Math.ceil(Math.log2(capacity))));
      this.msg = this.scratch;
    } else {
      this.msg = Buffer.allocUnsafeSlow(capacity);
    }
  }

  private appendData(chunk: Uint8Array, i: number, take: number): void {
    const need = this.msgLen + take;
    if (need > this.msg.length) {
      // A later fragment: grow (doubling, capped by the limit already checked in header()).
      const grown = Buffer.allocUnsafeSlow(Math.min(Math.max(need, this.msg.length * 2), this.options.maxMessageBytes));
      grown.set(this.msg.subarray(0, this.msgLen), 0);
      this.msg = grown;
    }
    unmaskInto(this.msg, this.msgLen, chunk, i, take, this.mask, this.maskPos);
    // Fail fast (RFC 6455 §8.1): validate what arrived now, not when the message ends. A message
    // that arrives whole in this append is validated once, when it is decoded (endFrame).
    const whole = this.msgLen === 0 && this.fin && take === this.left;
    if (this.msgOpcode === OP_TEXT && !whole && !this.compressed) {
      this.utf8 = utf8Validate(this.utf8, this.msg, this.msgLen, need);
      if (this.utf8 === UTF8_REJECT) fatal(CloseCode.invalidPayload, "a text message is not valid UTF-8");
      this.validated = need;
    }
    this.msgLen = need;
  }

  /** A frame's payload is complete: deliver it. True when push() must return now. */
  private endFrame(): boolean {
    this.phase = Phase.Header;
    const op = this.opcode;
    if (op >= 8) return this.endControl(op);
    if (!this.fin) return false;
    const len = this.msgLen;
    const msgOp = this.msgOpcode;
    this.msgOpcode = 0;
    this.msgLen = 0;
    if (this.compressed) return this.endCompressed(msgOp, len);
    if (msgOp === OP_TEXT) {
      if (this.validated < len) this.utf8 = utf8Validate(this.utf8, this.msg, this.validated, len);
      this.validated = 0;
      if (this.utf8 === UTF8_REJECT) fatal(CloseCode.invalidPayload, "a text message is not valid UTF-8");
      if (this.utf8 !== UTF8_ACCEPT) fatal(CloseCode.invalidPayload, "a text message ends inside a UTF-8 character");
      const text = this.msg.toString("utf8", 0, len);
      this.msg = EMPTY;
      this.handler.onText(text);
    } else {
      let data = this.msg;
      this.msg = EMPTY;
      // The app may keep data.buffer (hono/bun passes it on): it must hold exactly the message.
      if (data.length !== len) data = Buffer.from(data.buffer.slice(0, len));
      this.handler.onBinary(data);
    }
    return this.halted || this.stopAtBoundary;
  }

  /** A compressed message is inflated on its own (no context takeover), then checked like any other. */
  private endCompressed(msgOp: number, len: number): boolean {
    const raw = decompressMessage(this.msg.subarray(0, len), this.options.maxMessageBytes);
    this.msg = EMPTY;
    if (msgOp === OP_TEXT) {
      if (utf8Validate(UTF8_ACCEPT, raw, 0, raw.length) !== UTF8_ACCEPT) fatal(CloseCode.invalidPayload, "a text message is not valid UTF-8");
      this.handler.onText(raw.toString("utf8"));
    } else {
      this.handler.onBinary(raw.buffer.byteLength === raw.length ? raw : Buffer.from(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length)));
    }
    return this.halted || this.stopAtBoundary;
  }

  private endControl(op: number): boolean {
    const len = this.ctlLen;
    if (op === OP_CLOSE) {
      let code: number = CloseCode.noStatus;
      let reason = "";
      if (len === 1) fatal(CloseCode.protocolError, "a close frame's payload cannot be 1 byte (a status code takes 2)");
      if (len >= 2) {
        code = (this.ctl[0]! << 8) | this.ctl[1]!;
        if (!isValidWireCloseCode(code)) fatal(CloseCode.protocolError, `invalid close code ${code}`);
        const r = this.ctl.subarray(2, len);
        if (utf8Validate(UTF8_ACCEPT, r, 0, r.length) !== UTF8_ACCEPT) fatal(CloseCode.invalidPayload, "a close reason is not valid UTF-8");
        reason = r.toString("utf8");
      }
      this.phase = Phase.Closed;
      this.handler.onClose(code, reason);
      return true;
    }
    const payload = Buffer.from(this.ctl.subarray(0, len));
    if (op === OP_PING) this.handler.onPing(payload);
    else this.handler.onPong(payload);
    return this.halted || (this.stopAtBoundary && this.msgOpcode === 0);
  }
}

const EMPTY = Buffer.alloc(0);

/** Whether this machine stores the low byte of an Int32 first (every target Bun ships for). */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
/** The 32-bit view of the last buffer unmasked into: a text scratch is reused, so is its view. */
let viewBuffer: ArrayBufferLike | null = null;
let view32: Int32Array<ArrayBufferLike> = new Int32Array(0);

/**
 * dst[at, at+n) = src[from, from+n) XOR mask, the mask starting at index `pos`. Copies with the
 * native memcpy, then XORs 32 bits at a time over the aligned middle.
 */
export function unmaskInto(dst: Uint8Array, at: number, src: Uint8Array, from: number, n: number, mask: Uint8Array, pos: number): void {
  if (n < WORD_UNMASK_MIN) {
    for (let k = 0; k < n; k++) dst[at + k] = src[from + k]! ^ mask[(pos + k) & 3]!;
    return;
  }
  dst.set(src.subarray(from, from + n), at);
  let k = 0;
  const base = dst.byteOffset + at;
  while (((base + k) & 3) !== 0) {
    dst[at + k] = dst[at + k]! ^ mask[(pos + k) & 3]!;
    k++;
  }
  const words = (n - k) >>> 2;
  if (words > 0) {
    const p = (pos + k) & 3;
    const b0 = mask[p]!, b1 = mask[(p + 1) & 3]!, b2 = mask[(p + 2) & 3]!, b3 = mask[(p + 3) & 3]!;
    const m32 = LITTLE_ENDIAN ? b0 | (b1 << 8) | (b2 << 16) | (b3 << 24) : (b0 << 24) | (b1 << 16) | (b2 << 8) | b3;
    let v = view32;
    if (viewBuffer !== dst.buffer) {
      v = new Int32Array(dst.buffer, 0, dst.buffer.byteLength >>> 2);
      // Cache only small buffers: a big message handed to the app must not be kept alive here.
      if (dst.buffer.byteLength <= KEEP_SCRATCH_BYTES) {
        viewBuffer = dst.buffer;
        view32 = v;
      }
    }
    const first = (base + k) >>> 2;
    const last = first + words;
    for (let w = first; w < last; w++) v[w] = v[w]! ^ m32;
    k += words << 2;
  }
  for (; k < n; k++) dst[at + k] = dst[at + k]! ^ mask[(pos + k) & 3]!;
}
