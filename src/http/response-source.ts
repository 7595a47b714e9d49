// The global Response, replaced once per process by a constructor that builds the runtime's own
// Response and remembers what its body was made from, so the writer can send a string, bytes or a
// Blob without reading them back through a ReadableStream (measured: ~3.4 µs per response for the
// stream, nothing for this).
//
// Invisible to app code, by construction rather than by imitation:
// - every Response is the runtime's own object (Reflect.construct with the caller's new.target),
//   so construction errors are thrown where `new Response(...)` runs, user subclasses work, and
//   Bun.serve, fetch, Bun.write and every native API accept it;
// - the constructor's `prototype` IS the native Response.prototype, so `instanceof Response` holds
//   for Responses the runtime makes itself (Response.json, fetch results, clone()) with no
//   Symbol.hasInstance (nothing leaks into user subclasses), and `res.constructor === Response`;
// - it is a bound function named "Response" (name, length, [native code] as the runtime's own),
//   and the statics are the runtime's own functions;
// - the source is kept in a private field stamped onto the Response: no property, symbol or
//   prototype change an app could enumerate;
// - it is installed once (at the first server) and never swapped back: the same class before and
//   after an await.

const NativeResponse = globalThis.Response;
export { NativeResponse };

/** A base class whose constructor returns the object it is given: lets a subclass stamp a private field on it. */
class Stamp {
  constructor(target: object) {
    return target;
  }
}

/**
 * Where a body came from. `copied` marks a body taken from another Response's stream
 * (`new Response(res.body, res)`, as Hono's `c.res = …` does): the runtime then sends it as
 * untyped bytes.
 */
export interface BodySource {
  data: string | Uint8Array | Blob | null;
  copied: boolean;
}

class SourceTag extends Stamp {
  #source: BodySource;
  constructor(target: object, source: BodySource) {
    super(target);
    this.#source = source;
  }
  static of(res: object): BodySource | undefined {
    return #source in res ? res.#source : undefined;
  }
}

/** The body source a Response was built from (undefined: not built by us, or not a kind we keep). */
export function sourceOf(res: object): BodySource | undefined {
  return SourceTag.of(res);
}

const NULL_SOURCE: BodySource = { data: null, copied: false };

/** What to remember of a body: an immutable copy where the runtime copies too. */
function captureSource(body: unknown, init: unknown): BodySource | undefined {
  if (body === undefined || body === null) return NULL_SOURCE;
  if (typeof body === "string") return { data: body, copied: false };
  if (body instanceof Blob) return { data: body, copied: false };
  // The runtime copies a BufferSource at construction (a later change to the array is not sent).
  if (body instanceof ArrayBuffer) return { data: new Uint8Array(body.slice(0)), copied: false };
  if (ArrayBuffer.isView(body)) {
    return { data: new Uint8Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength)), copied: false };
  }
  // `new Response(res.body, res)`: the body is the stream of a Response we know.
  if (body instanceof ReadableStream && typeof init === "object" && init !== null) {
    const from = SourceTag.of(init);
    if (from !== undefined && from.data !== null && (init as Response).body === body) return { data: from.data, copied: true };
  }
  return undefined;
}

/** The constructor installed as globalThis.Response (see the file comment). */
const construct = function Response(this: unknown, body?: unknown, init?: unknown): Response {
  // Called without `new`: the runtime's own TypeError.
  if (new.target === undefined) return (NativeResponse as unknown as (b: unknown, i: unknown) => Response)(body, init);
  // `new Response(…)` itself: the runtime's own new.target (same prototype), which spares the
  // runtime re-setting the prototype of every object (measured: 6 % of a request). A user
  // subclass passes its own.
  const res = Reflect.construct(NativeResponse, [body, init], new.target === construct ? NativeResponse : new.target) as Response;
  const source = captureSource(body, init);
  if (source !== undefined) new SourceTag(res, source);
  return res;
};
Object.defineProperty(construct, "prototype", { value: NativeResponse.prototype, writable: false });

let installed = false;

/** Makes the source-keeping Response the global one (once per process; idempotent). */
export function installResponseSource(): void {
  if (installed) return;
  installed = true;
  const bound = construct.bind(undefined) as unknown as typeof Response;
  Object.defineProperty(bound, "name", { value: "Response" });
  Object.defineProperty(bound, "length", { value: NativeResponse.length });
  Object.defineProperty(bound, "prototype", { value: NativeResponse.prototype, writable: false, enumerable: false, configurable: false });
  // The statics are the runtime's own (same functions, same descriptors).
  for (const key of Reflect.ownKeys(NativeResponse)) {
    if (key === "prototype" || key === "name" || key === "length") continue;
    Object.defineProperty(bound, key, Object.getOwnPropertyDescriptor(NativeResponse, key)!);
  }
  Object.setPrototypeOf(bound, Object.getPrototypeOf(NativeResponse));
  // `res.constructor === Response`, as before the swap.
  Object.defineProperty(NativeResponse.prototype, "constructor", { value: bound, writable: true, enumerable: false, configurable: true });
  (globalThis as { Response: unknown }).Response = bound;
}
