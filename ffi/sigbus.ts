// A guard against SIGBUS on shared file mappings whose file was truncated: see sigbus.c.
// sigaction(2), posix_fallocate(3) and lseek(2) in a signal handler compiled by bun:ffi's cc.
// The compiled code is kept for the life of the process (the handler points into it).
// When cc is not available the guard is off (`guardAvailable()` says why): a truncation then
// still kills the process with SIGBUS.
import { cc, toArrayBuffer, type Pointer } from "bun:ffi";
import { isMainThread } from "node:worker_threads";

const SOURCE = new URL("./sigbus.c", import.meta.url).pathname;

function compile() {
  return cc({
    source: SOURCE,
    symbols: {
      guard_install: { args: [], returns: "int" },
      guard_add: { args: ["u64", "u64", "int", "i64"], returns: "int" },
      guard_remove: { args: ["int"], returns: "void" },
      guard_set_file: { args: ["int", "int", "i64"], returns: "void" },
      guard_shadow_buffer: { args: ["int", "i64"], returns: "u64" },
      guard_shadow_ready: { args: ["int", "i64"], returns: "void" },
      guard_shadow_busy: { args: ["int"], returns: "void" },
      guard_set_message: { args: ["int", "ptr", "int"], returns: "int" },
      guard_repairs: { args: ["int"], returns: "i64" },
      guard_take_cut_at: { args: ["int"], returns: "i64" },
      guard_check: { args: ["int"], returns: "int" },
    },
  }).symbols;
}

type Symbols = ReturnType<typeof compile>;
let symbols: Symbols | null | undefined;
let unavailable = "";

function guard(): Symbols | null {
  if (symbols !== undefined) return symbols;
  if (!isMainThread) {
    // The handler is process-wide, and a worker's compiled code goes away with the worker:
    // a handler left pointing into it would crash the process on the next SIGBUS.
    unavailable = "not installed from a worker thread";
    symbols = null;
    return null;
  }
  try {
    const s = compile();
    if (s.guard_install() !== 0) throw new Error("sigaction(SIGBUS) failed");
    symbols = s;
  } catch (e) {
    unavailable = (e as Error).message;
    symbols = null;
  }
  return symbols;
}

/** Whether the SIGBUS guard works in this process; when not, why. */
export function guardAvailable(): { ok: true } | { ok: false; why: string } {
  return guard() ? { ok: true } : { ok: false, why: unavailable };
}

/**
 * A guarded mapping: `[address, address + length)` over `fd`, whose file must hold `size`
 * bytes. Returns null when the guard is unavailable or every slot is taken.
 */
export class MappingGuard {
  private shadow: Uint8Array | null = null;

  private constructor(
    private readonly g: Symbols,
    private readonly slot: number,
  ) {}

  static add(address: number, length: number, fd: number, size: number): MappingGuard | null {
    const g = guard();
    if (!g) return null;
    const slot = g.guard_add(BigInt(address), BigInt(length), fd, size);
    return slot < 0 ? null : new MappingGuard(g, slot);
  }

  /** The fd and the size the file must have (after a growth, or a re-linked file). */
  setFile(fd: number, size: number): void {
    this.g.guard_set_file(this.slot, fd, size);
  }

  /** What to print (on stderr) before dying when a truncation cannot be repaired. */
  setMessage(text: string): void {
    const bytes = Buffer.from(`${text}\n`);
    this.g.guard_set_message(this.slot, bytes, bytes.length);
  }

  /**
   * Refreshes the copy the handler restores from: `fill` writes the current bytes into the
   * buffer it is given (of `bytes` bytes).
   */
  refreshShadow(bytes: number, fill: (into: Uint8Array) => void): void {
    if (!this.shadow || this.shadow.length !== bytes) {
      const at = Number(this.g.guard_shadow_buffer(this.slot, bytes));
      if (at === 0) {
        this.shadow = null;
        return;
      }
      this.shadow = new Uint8Array(toArrayBuffer(at as Pointer, 0, bytes));
    }
    this.g.guard_shadow_busy(this.slot);
    fill(this.shadow);
    this.g.guard_shadow_ready(this.slot, bytes);
  }

  /**
   * Truncations repaired so far, and the smallest size the file was cut to since the last
   * call (-1: none since).
   */
  repairs(): { count: number; cutAt: number } {
    return { count: Number(this.g.guard_repairs(this.slot)), cutAt: Number(this.g.guard_take_cut_at(this.slot)) };
  }

  /** Repairs a truncation nobody has touched yet: "repaired" | "intact" | "failed". */
  check(): "repaired" | "intact" | "failed" {
    const r = this.g.guard_check(this.slot);
    return r === 1 ? "repaired" : r === 0 ? "intact" : "failed";
  }

  remove(): void {
    this.g.guard_remove(this.slot);
    this.shadow = null;
  }
}
