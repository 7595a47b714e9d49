// Request body decoders (RFC 9112 §6.3, §7.1): a fixed Content-Length, or the chunked coding with
// extensions and trailers. Both are incremental: feed them whatever arrived, they say how much of
// it belonged to the body and whether the body is complete. Bytes after the body stay unconsumed
// (the next pipelined request).
import { HttpError } from "./errors.ts";
import { TCHAR } from "./head.ts";
import { CHUNK_EXTENSION_ALLOWANCE_BYTES, MAX_CHUNK_EXTENSION_LINE_BYTES } from "./limits.ts";

export interface BodyDecoder {
  /** Consumes from buf[start, end); returns the index of the first byte not consumed. */
  feed(buf: Uint8Array, start: number, end: number): number;
  readonly done: boolean;
  /** Decoded body bytes (valid once done). */
  body(): Uint8Array;
  readonly received: number;
  /**
   * Where decoded bytes go once the body is streamed to the app: from then on they are passed
   * to it (not kept). takeParts() hands over what was kept before.
   */
  sink: ((chunk: Uint8Array) => void) | null;
  takeParts(): Uint8Array[];
}

const EMPTY = new Uint8Array(0);

function join(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  if (parts.length === 0) return EMPTY;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

export class FixedLengthBody implements BodyDecoder {
  private parts: Uint8Array[] = [];
  received = 0;
  sink: ((chunk: Uint8Array) => void) | null = null;
  constructor(private readonly length: number) {}
  get done(): boolean {
    return this.received === this.length;
  }
  feed(buf: Uint8Array, start: number, end: number): number {
    const take = Math.min(end - start, this.length - this.received);
    if (take > 0) {
      const chunk = buf.subarray(start, start + take);
      if (this.sink !== null) this.sink(chunk);
      else this.parts.push(chunk);
      this.received += take;
    }
    return start + take;
  }
  body(): Uint8Array {
    return join(this.parts, this.received);
  }
  takeParts(): Uint8Array[] {
    const p = this.parts;
    this.parts = [];
    return p;
  }
}

const enum S {
  Size,
  Ext,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  TrailerStart,
  TrailerName,
  TrailerLine,
  TrailerLf,
  FinalLf,
  Done,
}

/** Significant hex digits of a chunk size: 12 is 2^48 bytes, far beyond any body limit, far below 2^53. */
const MAX_CHUNK_SIZE_DIGITS = 12;
/** Digits of a chunk size including leading zeros (which are valid, but not without end). */
const MAX_CHUNK_SIZE_CHARS = 64;
const TOKEN = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]+";
const QUOTED = '"(?:[\\t \\x21\\x23-\\x5b\\x5d-\\x7e\\x80-\\xff]|\\\\[\\t \\x21-\\x7e\\x80-\\xff])*"';
/** chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ) (RFC 9112 §7.1.1). */
const CHUNK_EXT = new RegExp(`^(?:[ \\t]*;[ \\t]*${TOKEN}(?:[ \\t]*=[ \\t]*(?:${TOKEN}|${QUOTED}))?)+$`);

/** Chunk data up to this size is copied byte by byte (no subarray view made per chunk). */
const SMALL_COPY_BYTES = 16;
/** First size of a chunked body's collection buffer (grows by doubling). */
const CHUNKED_INITIAL_BYTES = 1024;

export class ChunkedBody implements BodyDecoder {
  /**
   * Decoded bytes not yet handed on, copied out of the socket reads: a view would keep a whole
   * read alive for one byte of it (tiny chunks padded with extensions: 4 KiB retained per byte),
   * and an object per chunk costs more than the byte it carries.
   */
  private acc: Uint8Array = EMPTY;
  private accLen = 0;
  private state = S.Size;
  private size = 0;
  private digits = 0;
  private remaining = 0;
  private extBytes = 0;
  /** Extension bytes of the whole body so far (see CHUNK_EXTENSION_ALLOWANCE_BYTES). */
  private extTotal = 0;
  private ext = "";
  private sizeChars = 0;
  private trailerBytes = 0;
  received = 0;
  sink: ((chunk: Uint8Array) => void) | null = null;
  constructor(
    private readonly maxBodyBytes: number,
    private readonly maxTrailerBytes: number,
    /** Extension bytes allowed beyond the data bytes received (413 beyond). */
    private readonly extensionAllowance = CHUNK_EXTENSION_ALLOWANCE_BYTES,
  ) {}
  get done(): boolean {
    return this.state === S.Done;
  }
  body(): Uint8Array {
    return this.acc.subarray(0, this.accLen);
  }
  takeParts(): Uint8Array[] {
    if (this.accLen === 0) return [];
    const p = this.acc.subarray(0, this.accLen);
    this.acc = EMPTY;
    this.accLen = 0;
    return [p];
  }

  private keep(buf: Uint8Array, from: number, to: number): void {
    const need = this.accLen + (to - from);
    if (need > this.acc.byteLength) {
      const grown = new Uint8Array(Math.max(need, this.acc.byteLength * 2, CHUNKED_INITIAL_BYTES));
      grown.set(this.acc.subarray(0, this.accLen));
      this.acc = grown;
    }
    const acc = this.acc;
    if (to - from <= SMALL_COPY_BYTES) {
      // Tiny chunks: a byte loop is cheaper than the view set() needs.
      for (let i = from, at = this.accLen; i < to; i++, at++) acc[at] = buf[i]!;
    } else acc.set(buf.subarray(from, to), this.accLen);
    this.accLen = need;
  }

  feed(buf: Uint8Array, start: number, end: number): number {
    try {
      return this.decode(buf, start, end);
    } finally {
      // Streaming: what this read decoded leaves as one copied chunk.
      if (this.sink !== null && this.accLen > 0) {
        const out = this.acc.slice(0, this.accLen);
        this.accLen = 0;
        this.sink(out);
      }
    }
  }

  private decode(buf: Uint8Array, start: number, end: number): number {
    let i = start;
    while (i < end) {
      const c = buf[i]!;
      switch (this.state) {
        case S.Size: {
          const d = hexValue(c);
          if (d >= 0) {
            if (++this.sizeChars > MAX_CHUNK_SIZE_CHARS) throw new HttpError(400, "chunk size line too long");
            // Leading zeros are valid and carry nothing: only significant digits can overflow.
            if ((this.size > 0 || d > 0) && ++this.digits > MAX_CHUNK_SIZE_DIGITS) throw new HttpError(400, "chunk size overflows");
            this.size = this.size * 16 + d;
            i++;
            break;
          }
          if (this.sizeChars === 0) throw new HttpError(400, "invalid chunk size");
          if (c === 13) {
            this.state = S.SizeLf;
            i++;
          } else if (c === 59 /* ; */ || c === 32 || c === 9) {
            this.state = S.Ext;
            this.ext = "";
            this.extBytes = 0;
          } else throw new HttpError(400, "invalid chunk size line");
          break;
        }
        case S.Ext: {
          // Collect the extension up to CR, then check its grammar: whitespace is only allowed
          // around ";" and "=" (BWS), so "5 \r\n" and '5;a b"c' are refused like Bun does.
          let j = i;
          while (j < end && buf[j] !== 13) j++;
          this.extBytes += j - i;
          this.extTotal += j - i;
          // 413 like Bun.serve and Node for one long line; the same for a body whose extensions
          // outweigh its data (many small chunks, each padded).
          if (this.extBytes > MAX_CHUNK_EXTENSION_LINE_BYTES) {
            throw new HttpError(413, `chunk extensions longer than ${MAX_CHUNK_EXTENSION_LINE_BYTES} bytes on one chunk`);
          }
          if (this.extTotal > this.received + this.extensionAllowance) {
            throw new HttpError(
              413,
              `chunk extensions (${this.extTotal} bytes) outweigh the body's data (${this.received} bytes) by more than ${this.extensionAllowance} bytes`,
            );
          }
          if (j > i) this.ext += Buffer.from(buf.buffer, buf.byteOffset + i, j - i).toString("latin1");
          i = j;
          if (j < end) {
            if (!CHUNK_EXT.test(this.ext)) throw new HttpError(400, "malformed chunk extension");
            this.ext = "";
            this.state = S.SizeLf;
            i++;
          }
          break;
        }
        case S.SizeLf:
          if (c !== 10) throw new HttpError(400, "bare CR in chunk size line");
          i++;
          if (this.size === 0) {
            this.state = S.TrailerStart;
          } else {
            if (this.received + this.size > this.maxBodyBytes) {
              throw new HttpError(413, `request body exceeds the limit of ${this.maxBodyBytes} bytes`);
            }
            this.remaining = this.size;
            this.state = S.Data;
          }
          break;
        case S.Data: {
          const take = Math.min(end - i, this.remaining);
          this.keep(buf, i, i + take);
          this.received += take;
          this.remaining -= take;
          i += take;
          if (this.remaining === 0) this.state = S.DataCr;
          break;
        }
        case S.DataCr:
          if (c !== 13) throw new HttpError(400, "chunk data longer than its size");
          this.state = S.DataLf;
          i++;
          break;
        case S.DataLf:
          if (c !== 10) throw new HttpError(400, "bare CR after chunk data");
          this.state = S.Size;
          this.size = 0;
          this.digits = 0;
          this.sizeChars = 0;
          i++;
          break;
        case S.TrailerStart:
          // Trailer fields are validated like header fields and then dropped: nothing downstream
          // may rely on them (RFC 9110 §6.5.1 lets a recipient discard them).
          if (c === 13) {
            this.state = S.FinalLf;
            i++;
            break;
          }
          if (!TCHAR[c]) throw new HttpError(400, c === 32 || c === 9 ? "obsolete line folding in trailer" : "malformed trailer field");
          this.state = S.TrailerName;
          break;
        case S.TrailerName:
          if (c === 58 /* : */) this.state = S.TrailerLine;
          else if (!TCHAR[c]) throw new HttpError(400, "malformed trailer field name");
          i++;
          break;
        case S.TrailerLine:
          if (c === 13) this.state = S.TrailerLf;
          else if (c === 10 || c === 0 || (c < 32 && c !== 9) || c === 127) throw new HttpError(400, "invalid character in trailer field");
          i++;
          break;
        case S.TrailerLf:
          if (c !== 10) throw new HttpError(400, "bare CR in trailer field");
          this.state = S.TrailerStart;
          i++;
          break;
        case S.FinalLf:
          if (c !== 10) throw new HttpError(400, "bare CR at end of chunked body");
          this.state = S.Done;
          return i + 1;
        case S.Done:
          return i;
      }
      if (this.state >= S.TrailerStart && ++this.trailerBytes > this.maxTrailerBytes) {
        throw new HttpError(431, "trailer section too large");
      }
    }
    return i;
  }
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  if (l >= 97 && l <= 102) return l - 87;
  return -1;
}
