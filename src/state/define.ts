// defineState: the public entry of the state layer.
import * as fs from "node:fs";
import * as path from "node:path";
import { z } from "zod";
import { checkStringBytes } from "./codec.ts";
import { compileCopier, compileValidator } from "./validate.ts";
import { leavesOf, type Entry } from "./layout.ts";
import { StateRegion, type LockMode } from "./region.ts";
import { parseStateSchema, type FieldType } from "./schema.ts";
import { FlatObjectNode, LocatedNode, type Node } from "./nodes.ts";
import { ObjectView as ObjectViewImpl, viewAt } from "./views.ts";

/** Where state lives outside liveframe (`bun app.ts`, tests, scripts): relative to the cwd. */
export const DEFAULT_RUNTIME_DIR = "./.liveframe";
export const DEFAULT_STATE_NAME = "default";

// ---- types a user sees --------------------------------------------------------------------

export interface NumberView {
  get(): number;
  /** Validated by the schema: an invalid value throws a ZodError and writes nothing. */
  set(value: number): void;
  /** Atomic across processes; returns the new value. */
  add(delta: number): number;
  /** Stores `value` if the field holds `expected`; returns what it held (like Atomics.compareExchange). */
  compareExchange(expected: number, value: number): number;
}
export interface BigIntView {
  get(): bigint;
  set(value: bigint): void;
  add(delta: bigint): bigint;
  compareExchange(expected: bigint, value: bigint): bigint;
}
export interface ValueView<T> {
  /** Never torn: a value written by one set()/update() is seen whole or not at all. */
  get(): T;
  set(value: T): void;
}
export interface ArrayView<E extends z.ZodType> extends ValueView<z.output<E>[]> {
  readonly length: number;
  at(index: number): ViewOf<E>;
}
export type ObjectView<S extends z.ZodRawShape> = { readonly [K in keyof S]: ViewOf<S[K]> } & ValueView<
  z.output<z.ZodObject<S>>
>;
export type ViewOf<T> = T extends z.ZodNumberFormat
  ? NumberView
  : T extends z.ZodBigIntFormat
    ? BigIntView
    : T extends z.ZodObject<infer S>
      ? ObjectView<S>
      : T extends z.ZodArray<infer E extends z.ZodType>
        ? ArrayView<E>
        : T extends z.ZodType
          ? ValueView<z.output<T>>
          : never;

export interface StateInfo {
  readonly file: string;
  readonly name: string;
  /** Bytes of the file in use (header, values, journals, layout directory). */
  readonly size: number;
  /** True when the region is mlocked in this process. */
  readonly locked: boolean;
  /** The layout directory: every field any schema version placed in the file. */
  layout(): { path: string; type: string; offset: number; size: number }[];
}

export interface StateMethods<T> {
  /**
   * Runs `fn` on a draft of the whole state under a cross-process lock, validates the result
   * (a draft mutated in place, or the object `fn` returns) and writes what changed as one
   * atomic change: readers see all of it or none of it. `fn` must be synchronous and must
   * not call set()/update() itself. Integers are written as the difference to what `fn`
   * saw, so a concurrent lock-free add() is merged, not lost. Returns the new state.
   */
  update(fn: (draft: T) => T | void): T;
  /** A consistent plain copy of the whole state. */
  snapshot(): T;
  /** msync(2) this state's file. */
  sync(): void;
  readonly info: StateInfo;
}

export type State<S extends z.ZodRawShape> = { readonly [K in keyof S]: ViewOf<S[K]> } & StateMethods<
  z.output<z.ZodObject<S>>
>;

export interface StateOptions {
  /**
   * Default "default": the file is `${LIVEFRAME_STATE_DIR}/${name}.bin`, or without that
   * variable `${LIVEFRAME_RUNTIME_DIR ?? "./.liveframe"}/state/${name}.bin`.
   */
  name?: string;
  /** An explicit file instead (for scripts, tests, a second worker process). */
  file?: string;
  /** "try" (default): warn once and go on unlocked if mlock is not allowed; "require": refuse. */
  lock?: LockMode;
}

const optionsSchema = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+$/, "use letters, digits, '_', '-' and '.' only")
      .refine((n) => n !== "." && n !== "..", "not '.' or '..'")
      .optional(),
    file: z.string().min(1).optional(),
    lock: z.enum(["try", "require"]).optional(),
  })
  .strict();

// ---- the registry of regions open in this process -----------------------------------------

const regions = new Map<string, StateRegion>();

/** Resolves where a state lives (exported for the reload machinery and tests). */
export function stateFile(options: { name?: string; file?: string } = {}): string {
  if (options.file) return path.resolve(options.file);
  // LIVEFRAME_STATE_DIR puts state apart from the runtime dir (sockets), e.g. in /var/lib,
  // out of reach of a deploy's `git clean -fdx` of the checkout (see docs/deploy.md).
  const stateDir = process.env.LIVEFRAME_STATE_DIR;
  const dir = stateDir ? stateDir : path.join(process.env.LIVEFRAME_RUNTIME_DIR ?? DEFAULT_RUNTIME_DIR, "state");
  return path.resolve(dir, `${options.name ?? DEFAULT_STATE_NAME}.bin`);
}

function regionFor(file: string): StateRegion {
  const key = fs.existsSync(file) ? fs.realpathSync(file) : file;
  let r = regions.get(key) ?? regions.get(file);
  if (!r) {
    r = StateRegion.open(file);
    regions.set(fs.realpathSync(file), r);
  }
  return r;
}

/** msync every state region open in this process. Call on graceful exit (liveframe does). */
export function syncAllStates(): void {
  const errors: string[] = [];
  for (const r of regions.values()) {
    try {
      r.sync();
    } catch (e) {
      errors.push(`${r.file}: ${(e as Error).message}`);
    }
  }
  if (errors.length > 0) throw new Error(`syncAllStates: ${errors.join("; ")}`);
}

let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Best effort: MAP_SHARED pages reach the file anyway (the kernel writes them back), this
  // only makes it happen before the process is gone.
  process.on("exit", () => {
    try {
      syncAllStates();
    } catch {
      // nothing useful to do while exiting
    }
  });
}

// ---- defineState --------------------------------------------------------------------------

/**
 * Lays `schema` out in a shared, mlocked file and returns typed views over it. Every
 * process (every generation) that defines the same state sees the same values.
 * Throws when a field has no fixed size, when a field changed type against the file, or
 * when the file is not a liveframe state region.
 */
export function defineState<S extends z.ZodRawShape>(schema: z.ZodObject<S>, options: StateOptions = {}): State<S> {
  let opts: z.output<typeof optionsSchema>, root: ReturnType<typeof parseStateSchema>, file: string;
  let region: StateRegion, entries: ReturnType<StateRegion["adopt"]>;
  try {
    opts = optionsSchema.parse(options);
    root = parseStateSchema(schema);
    file = stateFile(opts);
    region = regionFor(file);
    entries = region.adopt(leavesOf(root));
    region.lockInMemory(opts.lock ?? "try");
  } catch (e) {
    // The stack starts at the app's line that called defineState, not inside src/state: the
    // reload machinery and bun report its first frame as the error's location.
    if (e instanceof Error) Error.captureStackTrace(e, defineState);
    throw e;
  }
  installExitHook();

  const rootNode = buildObject(region, root, "", entries);
  const state = rootNode.view as Record<string, unknown>;
  const node = rootNode.node;
  const name = opts.name ?? (opts.file ? path.basename(file) : DEFAULT_STATE_NAME);
  const copy = compileCopier(root);
  const valid = compileValidator(root);

  const methods: StateMethods<unknown> = {
    update(fn) {
      region.lock.acquire();
      try {
        const prev = node.read();
        const draft = copy(prev);
        const out = fn(draft) as unknown;
        if (out !== null && typeof out === "object" && typeof (out as { then?: unknown }).then === "function")
          throw new Error("state.update(fn): fn returned a Promise; update holds a cross-process lock, so fn must be synchronous");
        let next = out === undefined ? draft : out;
        if (!valid(next)) {
          next = schema.parse(next);
          checkStringBytes(root, next);
        }
        region.journal.begin();
        try {
          node.write(next, prev);
          region.journal.commit();
        } catch (e) {
          region.journal.abort();
          throw e;
        }
        return next as z.output<typeof schema>;
      } finally {
        region.lock.release();
      }
    },
    snapshot() {
      return region.readStable(() => node.read());
    },
    sync() {
      region.sync();
    },
    info: {
      file,
      name,
      get size() {
        return region.size;
      },
      get locked() {
        return region.locked;
      },
      layout() {
        region.lock.acquire();
        try {
          return region.directory().map(({ path, type, offset, size }: Entry) => ({ path, type, offset, size }));
        } finally {
          region.lock.release();
        }
      },
    },
  };
  for (const [k, v] of Object.entries(methods)) Object.defineProperty(state, k, { value: v, enumerable: false });
  return state as unknown as State<S>;
}

/** Views of a flattened object (top level or nested outside arrays): each leaf is an entry. */
function buildObject(
  r: StateRegion,
  obj: FieldType & { kind: "object" },
  prefix: string,
  entries: Map<string, Entry>,
): { node: Node; view: unknown } {
  const children: (readonly [string, Node])[] = [];
  const views: Record<string, unknown> = {};
  for (const [name, f] of obj.fields) {
    const p = prefix ? `${prefix}.${name}` : name;
    if (f.kind === "object") {
      const sub = buildObject(r, f, p, entries);
      children.push([name, sub.node]);
      views[name] = sub.view;
    } else {
      const e = entries.get(p);
      if (!e) throw new Error(`state: internal error: no layout entry for "${p}"`);
      children.push([name, new LocatedNode(r, f, e, e.offset)]);
      views[name] = viewAt(r, f, e, e.offset);
    }
  }
  const node = new FlatObjectNode(children);
  const view = new ObjectViewImpl(r, node, obj);
  for (const [k, v] of Object.entries(views)) Object.defineProperty(view, k, { value: v, enumerable: true });
  return { node, view };
}
