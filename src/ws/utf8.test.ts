// The incremental UTF-8 validator agrees with the WHATWG decoder's fatal mode on every edge case
// of Unicode Table 3-7, whole and cut at every byte, and on random byte strings.
import { describe, expect, test } from "bun:test";
import { UTF8_ACCEPT, UTF8_REJECT, utf8Validate } from "./utf8.ts";

const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
function reference(b: Uint8Array): boolean {
  try {
    strict.decode(b);
    return true;
  } catch {
    return false;
  }
}

/** Validates b cut into pieces at the given points; true when complete and well formed. */
function pieces(b: Uint8Array, cuts: number[]): boolean {
  let state = UTF8_ACCEPT;
  let from = 0;
  for (const cut of [...cuts, b.length]) {
    state = utf8Validate(state, b, from, cut);
    if (state === UTF8_REJECT) return false;
    from = cut;
  }
  return state === UTF8_ACCEPT;
}

const cases: [string, number[], boolean][] = [
  ["ASCII", [0x48, 0x69], true],
  ["2-byte é", [0xc3, 0xa9], true],
  ["3-byte €", [0xe2, 0x82, 0xac], true],
  ["4-byte 𝄞", [0xf0, 0x9d, 0x84, 0x9e], true],
  ["U+10FFFF, the last code point", [0xf4, 0x8f, 0xbf, 0xbf], true],
  ["U+D7FF, just below the surrogates", [0xed, 0x9f, 0xbf], true],
  ["U+E000, just above the surrogates", [0xee, 0x80, 0x80], true],
  ["U+FFFD", [0xef, 0xbf, 0xbd], true],
  ["BOM", [0xef, 0xbb, 0xbf], true],
  ["overlong NUL (C0 80)", [0xc0, 0x80], false],
  ["overlong C1 BF", [0xc1, 0xbf], false],
  ["overlong 3-byte (E0 80 80)", [0xe0, 0x80, 0x80], false],
  ["overlong 3-byte (E0 9F BF)", [0xe0, 0x9f, 0xbf], false],
  ["overlong 4-byte (F0 8F BF BF)", [0xf0, 0x8f, 0xbf, 0xbf], false],
  ["high surrogate U+D800", [0xed, 0xa0, 0x80], false],
  ["low surrogate U+DFFF", [0xed, 0xbf, 0xbf], false],
  ["surrogate pair encoded as two 3-byte sequences (CESU-8)", [0xed, 0xa0, 0xbd, 0xed, 0xb2, 0xa9], false],
  ["U+110000, above the last code point", [0xf4, 0x90, 0x80, 0x80], false],
  ["F5 lead byte", [0xf5, 0x80, 0x80, 0x80], false],
  ["FF", [0xff], false],
  ["lone continuation byte", [0x80], false],
  ["continuation byte after ASCII", [0x41, 0xbf], false],
  ["truncated 2-byte at the end", [0x41, 0xc3], false],
  ["truncated 3-byte at the end", [0xe2, 0x82], false],
  ["truncated 4-byte at the end", [0xf0, 0x9d, 0x84], false],
  ["lead byte followed by ASCII", [0xe2, 0x41, 0x41], false],
  ["too many continuation bytes", [0xc3, 0xa9, 0xa9], false],
  ["5-byte form (F8)", [0xf8, 0x88, 0x80, 0x80, 0x80], false],
];

describe("UTF-8 edge cases, whole and at every cut", () => {
  // Short runs are checked by the JS state machine, long ones (> 64 bytes) by the native
  // isUtf8 with the state machine at the cuts: each case is run both ways.
  for (const [name, raw, valid] of cases) {
    for (const pad of [1, 100]) {
      test(`${name}: ${valid ? "valid" : "invalid"} (after ${pad} ASCII bytes)`, () => {
        const b = new Uint8Array([...new Array(pad).fill(0x61), ...raw, ...(valid ? new Array(pad).fill(0x62) : [])]);
        expect(reference(b)).toBe(valid);
        expect(pieces(b, [])).toBe(valid);
        for (let cut = 0; cut <= b.length; cut++) expect(pieces(b, [cut])).toBe(valid);
        expect(pieces(b, Array.from({ length: b.length }, (_, i) => i))).toBe(valid);
      });
    }
  }
});

test("random byte strings: same verdict as TextDecoder (fatal) whole and cut in three", () => {
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  // Bias towards bytes that make near-valid multibyte sequences.
  const pool = [0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc2, 0xdf, 0xe0, 0xe1, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf4, 0xf5];
  let valid = 0;
  for (let n = 0; n < 20000; n++) {
    // Mostly short (JS path); one in three behind a long valid prefix (native path, cut inside it).
    const prefix = rand() < 0.33 ? Buffer.from("é€a𝄞".repeat(10)) : new Uint8Array(0);
    const tail = Uint8Array.from({ length: 1 + Math.floor(rand() * 12) }, () => pool[Math.floor(rand() * pool.length)]!);
    const b = new Uint8Array([...prefix, ...tail]);
    const len = b.length;
    const want = reference(b);
    if (want) valid++;
    const a = Math.floor(rand() * (len + 1));
    const c = a + Math.floor(rand() * (len - a + 1));
    expect(pieces(b, [a, c])).toBe(want);
  }
  // The generator must produce both verdicts for the comparison to mean anything.
  expect(valid).toBeGreaterThan(50);
});
