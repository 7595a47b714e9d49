// Incremental UTF-8 validation (Unicode 15 §3.9, Table 3-7: well-formed byte sequences), so a
// text message split across frames, or a frame split across reads, fails as soon as the bytes
// that make it invalid arrive (RFC 6455 §8.1: fail fast, 1007), not when the message ends.
// Long runs go to the runtime's native validator (buffer.isUtf8); only the few bytes of a
// sequence cut by a chunk boundary go through the byte-at-a-time state machine below.
import { isUtf8 } from "node:buffer";

/**
 * Validator state between chunks, packed in one number so a parser keeps it in a field:
 * bits 0-1: continuation bytes still expected (0 = at a character boundary);
 * bits 8-15 / 16-23: the inclusive range the next byte must be in (Table 3-7 narrows the first
 * continuation byte after E0, ED, F0 and F4 to exclude overlongs, surrogates and > U+10FFFF).
 */
export type Utf8State = number;
export const UTF8_ACCEPT: Utf8State = 0;
/** Sticky failure: no later byte makes the text valid again. */
export const UTF8_REJECT: Utf8State = -1;

const CONT = (0x80 << 8) | (0xbf << 16);
/** Runs up to this many bytes are validated in JS; longer ones by the native isUtf8. */
const SHORT_RUN = 64;

function pack(need: number, lo: number, hi: number): Utf8State {
  return need | (lo << 8) | (hi << 16);
}

/** Advances the state machine by one byte. */
export function utf8Step(state: Utf8State, b: number): Utf8State {
  if (state === UTF8_REJECT) return UTF8_REJECT;
  const need = state & 3;
  if (need === 0) {
    if (b < 0x80) return UTF8_ACCEPT;
    if (b >= 0xc2 && b <= 0xdf) return 1 | CONT;
    if (b === 0xe0) return pack(2, 0xa0, 0xbf);
    if (b === 0xed) return pack(2, 0x80, 0x9f);
    if (b >= 0xe1 && b <= 0xef) return 2 | CONT;
    if (b === 0xf0) return pack(3, 0x90, 0xbf);
    if (b === 0xf4) return pack(3, 0x80, 0x8f);
    if (b >= 0xf1 && b <= 0xf3) return 3 | CONT;
    return UTF8_REJECT; // 80-C1 (continuation or overlong lead), F5-FF
  }
  const lo = (state >> 8) & 0xff;
  const hi = (state >> 16) & 0xff;
  if (b < lo || b > hi) return UTF8_REJECT;
  return need === 1 ? UTF8_ACCEPT : (need - 1) | CONT;
}

/**
 * Validates bytes[from, to) continuing from `state`; returns the new state (UTF8_REJECT once
 * invalid). A non-zero, non-reject result means a character is cut at `to` and continues later.
 */
export function utf8Validate(state: Utf8State, bytes: Uint8Array, from: number, to: number): Utf8State {
  if (to - from <= SHORT_RUN) {
    // Short texts (chat messages): the state machine beats making a view for the native call.
    for (let j = from; j < to; j++) {
      const b = bytes[j]!;
      if (b < 0x80 && state === UTF8_ACCEPT) continue;
      state = utf8Step(state, b);
      if (state === UTF8_REJECT) return state;
    }
    return state;
  }
  let i = from;
  // Finish a character cut by the previous chunk.
  while (i < to && state !== UTF8_ACCEPT) {
    state = utf8Step(state, bytes[i]!);
    if (state === UTF8_REJECT) return state;
    i++;
  }
  if (i === to) return state;
  // Find where the last character starts; if it is incomplete, it goes through the state machine.
  let cut = to;
  for (let back = 1; back <= 3 && to - back >= i; back++) {
    const b = bytes[to - back]!;
    if ((b & 0xc0) !== 0x80) {
      const len = b < 0x80 ? 1 : b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
      if (len > back) cut = to - back;
      break;
    }
  }
  if (cut > i && !isUtf8(bytes.subarray(i, cut))) return UTF8_REJECT;
  for (let j = cut; j < to; j++) {
    state = utf8Step(state, bytes[j]!);
    if (state === UTF8_REJECT) return state;
  }
  return state;
}

/** Whether `bytes` is complete, well-formed UTF-8. */
export function isWellFormedUtf8(bytes: Uint8Array): boolean {
  return isUtf8(bytes);
}
