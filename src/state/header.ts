// The first page of a region file: who it is, how big, where its layout directory is, and
// the words the cross-process lock, the seqlock and the journal live in.
//
//   0  magic "LVFSTATE" (8 bytes)        32 lock owner pid (i32, 0 = free)
//   8  format version (u32)              36 lock waiters (i32)
//  12  header bytes (u32)                40 seqlock sequence (u32, odd = a write is under way)
//  16  region bytes in use (u32)         44 commit mark (u32, 1 = the write under way is complete)
//  20  layout version (u32, +1 per       48 lock owner thread id (i32: Bun workers share the pid)
//      directory change)                52 boot id hash (u32) of the boot that last opened it
//  24  directory offset (u32) } one 64-bit word, stored at once so that the pair is never torn
//  28  directory length (u32) }         56 lock owner start time (u32, clock ticks, 0 = unknown)
//                                       60 inode (low 32 bits) of the file this one was restored
//                                          from, when a process re-linked a deleted file
//
// The directory is JSON (readable with `strings`): `{"fields":[{path,type,offset,size,journal}]}`.
// It is rewritten only at the end of the file, under the lock, and then published by
// storing its new offset: nothing is ever moved or shrunk.
import { z } from "zod";
import type { Entry } from "./layout.ts";

export const MAGIC = "LVFSTATE";
/** 2: 64-bit integers journal their old value too (16-byte shadow). */
export const FORMAT_VERSION = 2;
/** Version 1 differs only for 64-bit integer fields: a file without any is upgraded in place. */
export const UPGRADABLE_VERSION = 1;
/** One page: the header words and room for later header fields without moving data. */
export const HEADER_BYTES = 4096;

// Indexes into an Int32Array/Uint32Array over the mapping.
export const W_VERSION = 2;
export const W_HEADER_BYTES = 3;
export const W_SIZE = 4;
export const W_LAYOUT_VERSION = 5;
export const W_DIR_OFFSET = 6;
export const W_DIR_LENGTH = 7;
/** Index into a BigUint64Array of the (directory offset, directory length) pair. */
export const D_DIRECTORY = 3;
export const W_LOCK = 8;
export const W_WAITERS = 9;
export const W_SEQ = 10;
export const W_COMMIT = 11;
export const W_LOCK_THREAD = 12;
/** Hash of the kernel boot id of the last boot that opened the region (see region.ts). */
export const W_BOOT = 13;
/** Start time of the lock's holder (/proc/PID/stat field 22, low 32 bits): a reused pid differs. */
export const W_LOCK_START = 14;
/** Inode (low 32 bits) of the file this one was restored from (see file-watch.ts); 0 = none. */
export const W_RESTORED_FROM = 15;

const entrySchema = z.object({
  path: z.string().min(1),
  type: z.string().min(1),
  offset: z.number().int().min(HEADER_BYTES),
  size: z.number().int().min(0),
  journal: z.number().int().min(HEADER_BYTES),
});
const directorySchema = z.object({ fields: z.array(entrySchema) });

/** The region file is not something we may touch: never overwritten, never "repaired". */
export class RegionRefusedError extends Error {
  constructor(file: string, why: string) {
    super(`state file ${file}: ${why}: refusing to use or overwrite it; remove it or pass another { file }`);
    this.name = "RegionRefusedError";
  }
}

/** Checks the fixed part of a header read from disk (before mapping anything). */
export function checkHeader(file: string, head: Uint8Array, fileBytes: number): void {
  if (head.length < 48 || new TextDecoder().decode(head.subarray(0, 8)) !== MAGIC)
    throw new RegionRefusedError(file, `it is not a liveframe state region (no "${MAGIC}" magic)`);
  const w = new Uint32Array(head.buffer, head.byteOffset, 12);
  const version = w[W_VERSION] ?? 0;
  if (version !== FORMAT_VERSION && version !== UPGRADABLE_VERSION)
    throw new RegionRefusedError(
      file,
      `it has state format version ${version}, this liveframe reads version ${FORMAT_VERSION} (written by another liveframe release)`,
    );
  const size = w[W_SIZE] ?? 0;
  const dirEnd = (w[W_DIR_OFFSET] ?? 0) + (w[W_DIR_LENGTH] ?? 0);
  if (w[W_HEADER_BYTES] === HEADER_BYTES && size >= HEADER_BYTES && size > fileBytes && dirEnd <= size)
    throw new RegionRefusedError(
      file,
      `it is ${fileBytes} bytes, shorter than the ${size} its header says: it was truncated (values past byte ${fileBytes} are lost); restore it from a backup`,
    );
  if (w[W_HEADER_BYTES] !== HEADER_BYTES || size < HEADER_BYTES || size > fileBytes || dirEnd > size)
    throw new RegionRefusedError(file, `its header is corrupt (region ${size} bytes, file ${fileBytes} bytes)`);
}

/** Parses and checks the layout directory; every entry must lie inside the region. */
export function parseDirectory(file: string, text: string, size: number): Entry[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new RegionRefusedError(file, "its layout directory is not valid JSON (corrupt)");
  }
  const r = directorySchema.safeParse(parsed);
  if (!r.success) throw new RegionRefusedError(file, `its layout directory is corrupt (${r.error.issues[0]?.message})`);
  for (const e of r.data.fields) {
    if (e.offset + e.size > size || e.journal > size)
      throw new RegionRefusedError(file, `its layout directory puts "${e.path}" outside the region (corrupt)`);
  }
  return r.data.fields;
}

export function encodeDirectory(entries: readonly Entry[]): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ fields: entries }));
}
