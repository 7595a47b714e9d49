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
// - the source is kept in a private field stamped onto the Response (a Blob's in a WeakMap, see
//   blobSources): no property, symbol or prototype change an app could enumerate;
// - it is installed once (at the first server) and never swapped back: the same class before and
//   after an await;
// - Response's `clone()` and Blob's `stream()` are the runtime's own behind a Proxy (same name,
//   length, [native code]) that notes where a clone's body or a stream comes from, so
//   `new Response(file.stream())` is sent as Bun.serve sends it (see streamSources); a stream that
//   is another recent Response's `body` is recognised too (see recent);
// - a Response built from a string or null body and a plain options object is built from the
//   values read as the runtime reads them (see constructFromPlainInit): the same getters run, as
//   often and in the same order.

import { types } from "node:util";

const NativeResponse = globalThis.Response;
export { NativeResponse };


/**
 * Where a body came from. `copied` marks a body taken from another Response's stream
 * (`new Response(res.body, res)`, as Hono's `c.res = …` does): the runtime then sends it as
 * untyped bytes.
 */
export interface BodySource {
  data: string | Uint8Array | Blob | null;
  copied: boolean;
  /**
   * The Response's Content-Type is the one the runtime derived from the body (a typed Blob, a
   * URLSearchParams), not one the app gave: Bun.serve leaves it off a HEAD answer.
   */
  derivedType?: boolean;
  /**
   * The header fields the Response was built with, when it was built without headers or with a
   * plain object of strings: `[name, value, …]`, names lower-cased, as the runtime stores them.
   * The writer checks that the Response still holds exactly these (headersAre: a count and a get
   * per field) instead of reading every field back and parsing them into lines.
   */
  fields?: string[];
  /**
   * The body was sent (GET or HEAD): the runtime marks it used then, and Bun.serve answers a
   * second send of the same Response with a 500 (see planResponse). Never set on a shared source.
   */
  sent?: boolean;
}

/** A base class whose constructor returns the object it is given: lets a subclass stamp a private field on it. */
class Stamp {
  constructor(target: object) {
    return target;
  }
}

/**
 * A string, bytes or null body's source: a private field stamped on the Response (measured: a
 * tenth of a WeakMap's cost per response). Stamping changes the object's shape, after which the
 * runtime reads a Response given as `init` through its generic path; for these bodies that path
 * gives the same result.
 */
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

/**
 * A Blob body's source: in a WeakMap, leaving the Response's shape alone. The generic path above
 * would materialise the Content-Type the runtime derives from a Blob into `new Response(null, res)`
 * (Hono's HEAD answers), which Bun.serve does not send.
 */
const blobSources = new WeakMap<object, BodySource>();

function keep(res: object, source: BodySource): void {
  if (source.data instanceof Blob) blobSources.set(res, source);
  else new SourceTag(res, source);
}

function sourceOfAny(res: object): BodySource | undefined {
  return SourceTag.of(res) ?? blobSources.get(res);
}

/** The body source a Response was built from (undefined: not built by us, or not a kind we keep). */
export function sourceOf(res: object): BodySource | undefined {
  return sourceOfAny(res);
}

const NULL_SOURCE: BodySource = { data: null, copied: false };

/** What to remember of a body: an immutable copy where the runtime copies too. */
function captureSource(body: unknown, init: unknown): BodySource | undefined {
  if (body === undefined || body === null) return NULL_SOURCE;
  if (typeof body === "string") return { data: body, copied: false };
  if (body instanceof Blob) return { data: body, copied: false, derivedType: body.type !== "" && !initHasContentType(init) };
  // Sent as its serialisation (the same one the runtime makes) with the type the runtime set.
  if (body instanceof URLSearchParams) return { data: body.toString(), copied: false, derivedType: !initHasContentType(init) };
  // The runtime copies a BufferSource at construction (a later change to the array is not sent).
  // Copied through a Uint8Array's slice(): measured ~0.1–0.3 µs cheaper per 1 KiB body than
  // ArrayBuffer.prototype.slice (the POST echo path copies every body it answers with).
  if (body instanceof ArrayBuffer) return { data: new Uint8Array(body).slice(), copied: false };
  if (ArrayBuffer.isView(body)) {
    return { data: new Uint8Array(body.buffer, body.byteOffset, body.byteLength).slice(), copied: false };
  }
  if (body instanceof ReadableStream) {
    // The stream of a body we know (another Response's `body`, a Blob's or Bun.file's
    // `stream()`), not read yet: the runtime sends what it holds, as untyped bytes (a Blob keeps
    // its type), with a Content-Length.
    const from = streamSources.get(body) ?? recentStreamSource(body);
    if (from !== undefined && !body.locked) return from;
    // `new Response(res.body, res)` with a `res.body` read before the install.
    if (typeof init === "object" && init !== null) {
      const tagged = sourceOfAny(init);
      if (tagged !== undefined && tagged.data !== null && (init as Response).body === body) return { data: tagged.data, copied: true };
    }
  }
  return undefined;
}

function initHasContentType(init: unknown): boolean {
  if (typeof init !== "object" || init === null) return false;
  const h = (init as { headers?: unknown }).headers;
  if (h === undefined || h === null) return false;
  return (h instanceof Headers ? h : new Headers(h as ConstructorParameters<typeof Headers>[0])).has("content-type");
}

/**
 * Streams made by Blob's `stream()` (Bun.file's too): the Blob they will yield, so
 * `new Response(file.stream())` is sent as the runtime sends it. Weak: a stream nobody keeps is
 * forgotten.
 */
const streamSources = new WeakMap<ReadableStream<unknown>, BodySource>();

/**
 * The last Responses built here with a body we know. `Response.prototype.body` cannot be
 * replaced (the runtime makes it non-configurable), so a stream given to `new Response(stream)`
 * is recognised as one of these Responses' `body` by identity: HTTPException.getResponse (basic
 * auth, bearer auth, jwt, csrf, bodyLimit …) re-wraps `res.body` a few lines after making `res`.
 * A ring, one store per Response; read only when a Response is made from a stream.
 */
const RECENT = 8;
const recent: (Response | undefined)[] = new Array(RECENT).fill(undefined);
let recentAt = 0;

function recentStreamSource(stream: ReadableStream<unknown>): BodySource | undefined {
  for (let k = 1; k <= RECENT; k++) {
    const res = recent[(recentAt - k + RECENT) % RECENT];
    if (res === undefined) continue;
    const from = sourceOfAny(res)!;
    // Its body stream is this one (made when the app read `res.body`), not read yet.
    if (!nativeBodyUsed.call(res) && nativeBody.call(res) === stream) return { data: from.data, copied: true };
  }
  return undefined;
}

const nativeBody = Object.getOwnPropertyDescriptor(NativeResponse.prototype, "body")!.get! as (this: Response) => ReadableStream<unknown> | null;
const nativeBodyUsed = Object.getOwnPropertyDescriptor(NativeResponse.prototype, "bodyUsed")!.get! as (this: Response) => boolean;
const nativeClone = NativeResponse.prototype.clone as (this: Response) => Response;
const nativeBlobStream = Blob.prototype.stream as (this: Blob, ...args: unknown[]) => ReadableStream<Uint8Array>;

/** `Response.prototype.clone`: the runtime's clone, which holds the same body as the original. */
function clone(this: Response): Response {
  const copy = nativeClone.call(this);
  const from = sourceOfAny(this);
  // Its own copy: each of the two can be sent once.
  if (from !== undefined) keep(copy, { ...from });
  return copy;
}

/** `Blob.prototype.stream` (Bun.file's too): the runtime's stream, remembered as the Blob's. */
function stream(this: Blob, ...args: unknown[]): ReadableStream<Uint8Array> {
  const s = nativeBlobStream.apply(this, args);
  if (args.length === 0) streamSources.set(s, { data: this, copied: true });
  return s;
}

/**
 * Replaces a method of a runtime prototype by `fn`, behind a Proxy of the runtime's own function:
 * name, length and `toString()` ([native code]) are the runtime's, and `fn` gets the receiver it
 * is called on. Assigned (the runtime's methods are writable, not configurable): the property's
 * attributes stay as they were; only the function's identity changes.
 */
function replaceNative(proto: object, key: string, fn: (this: never, ...args: never[]) => unknown): void {
  const original = (proto as Record<string, unknown>)[key] as (...args: unknown[]) => unknown;
  (proto as Record<string, unknown>)[key] = new Proxy(original, { apply: (_target, self, args) => Reflect.apply(fn, self, args) });
}

const isProxy = types.isProxy;
const getProto = Object.getPrototypeOf;
const ownDescriptor = Object.getOwnPropertyDescriptor;
const ObjectProto = Object.prototype;

/** No fields: a Response built without headers. */
const NO_FIELDS: string[] = [];

/** A plain object (no Proxy, Object.prototype): reading its own properties runs no code but getters. */
function isPlain(o: unknown): o is Record<string, unknown> {
  return typeof o === "object" && o !== null && !isProxy(o) && getProto(o) === ObjectProto;
}

/** A plain object the runtime reads as a record of fields (one with Symbol.iterator is a list of pairs). */
function isPlainRecord(h: unknown): h is Record<string, unknown> {
  return isPlain(h) && !(Symbol.iterator in h);
}

/**
 * The fields a Response built with `init` starts with, `[name, value, …]`, when `init` is a plain
 * object whose `headers` is absent or a plain object of strings the runtime stores unchanged;
 * else undefined. Read through property descriptors after the runtime has read them: no getter
 * or Proxy trap runs a second time (anything but plain data properties is left to the runtime).
 * For the bodies constructFromPlainInit does not take.
 */
function plainFields(init: unknown): string[] | undefined {
  if (!isPlain(init)) return undefined;
  const d = ownDescriptor(init, "headers");
  if (d === undefined) return "headers" in init ? undefined : NO_FIELDS;
  if (d.get !== undefined || d.set !== undefined) return undefined;
  const h = d.value as unknown;
  if (h === undefined) return NO_FIELDS;
  return isPlainRecord(h) ? fieldsOf(h, Object.keys(h)) : undefined;
}

/** `h`'s fields through its property descriptors (data properties holding strings only), else undefined. */
function fieldsOf(h: Record<string, unknown>, keys: string[]): string[] | undefined {
  if (keys.length === 0) return NO_FIELDS;
  const out: string[] = new Array(keys.length * 2);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    const v = ownDescriptor(h, k)!.value;
    if (!storedAsGiven(v)) return undefined;
    const name = lowerName(k);
    for (let j = 0; j < i * 2; j += 2) if (out[j] === name) return undefined; // combined by the runtime
    out[i * 2] = name;
    out[i * 2 + 1] = v;
  }
  return out;
}

/**
 * The one field given last in a plain `init.headers` (Hono's c.json, c.text and c.html give one),
 * as a Headers the runtime copies without parsing, and as fields (the same array each time, so
 * the writer makes its lines once: see linesFromFields).
 */
let oneKey = "";
let oneValue = "";
let oneHeaders: Headers | undefined;
let oneFields: string[] = NO_FIELDS;

/** The fields of the Response constructFromPlainInit built last. */
let builtFields: string[] | undefined;

interface InitMembers {
  headers?: unknown;
  status?: unknown;
  statusText?: unknown;
  method?: unknown;
}

/**
 * Builds a Response from a string or null body and a plain `init` as the runtime would, but
 * reads `init` itself, as the runtime does on 1.4.5 (see the test): `headers` and, when it is a
 * plain object with one field, that field; then status, statusText and method, each once. The
 * runtime is handed the same values in an object of ours: no getter runs more often than under
 * the runtime alone, every conversion and error stays the runtime's, and a field given again is
 * handed over as a Headers, which the runtime copies without parsing (measured: ~0.2 µs less per
 * response).
 */
function constructFromPlainInit(body: unknown, init: InitMembers, target: Function): Response {
  const given = init.headers;
  let headers = given;
  let fields: string[] | undefined;
  let learnt: string | undefined;
  let key = "";
  if (given === undefined) fields = NO_FIELDS;
  else if (isPlainRecord(given)) {
    const keys = Object.keys(given);
    if (keys.length === 1) {
      key = keys[0]!;
      const value = given[key]; // its only read
      if (key === oneKey && value === oneValue) {
        headers = oneHeaders;
        fields = oneFields;
      } else {
        headers = { [key]: value };
        if (storedAsGiven(value)) learnt = value;
      }
    } else fields = fieldsOf(given, keys); // data properties only, so the runtime's reads run no code twice
  }
  // The runtime reads the rest after it has converted `headers`.
  const status = init.status;
  const statusText = init.statusText;
  const method = init.method;
  const res = Reflect.construct(NativeResponse, [body, { headers, status, statusText, method }], target) as Response;
  if (learnt !== undefined) {
    // The runtime took it: the same field as a Headers for next time.
    oneHeaders = new Headers(headers as Record<string, string>);
    oneKey = key;
    oneValue = learnt;
    oneFields = fields = [lowerName(key), learnt];
  }
  builtFields = fields;
  return res;
}

/** A field value the runtime stores as given: a string without surrounding whitespace. */
function storedAsGiven(v: unknown): v is string {
  return typeof v === "string" && (v.length === 0 || (!isWhitespace(v.charCodeAt(0)) && !isWhitespace(v.charCodeAt(v.length - 1))));
}

/** HTTP whitespace the runtime strips from both ends of a field value. */
function isWhitespace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/** A field name as the runtime stores it (ASCII lower case), remembered for the names apps repeat. */
const lowered = new Map<string, string>();
function lowerName(k: string): string {
  let l = lowered.get(k);
  if (l === undefined) {
    l = k.toLowerCase();
    if (lowered.size < 256) lowered.set(k, l);
  }
  return l;
}

/** The constructor installed as globalThis.Response (see the file comment). */
const construct = function Response(this: unknown, body?: unknown, init?: unknown): Response {
  // Called without `new`: the runtime's own TypeError.
  if (new.target === undefined) return (NativeResponse as unknown as (b: unknown, i: unknown) => Response)(body, init);
  // `new Response(…)` itself: the runtime's own new.target (same prototype), which spares the
  // runtime re-setting the prototype of every object (measured: 6 % of a request). A user
  // subclass passes its own.
  const target = new.target === construct ? NativeResponse : new.target;
  let res: Response;
  let fields: string[] | undefined;
  if (init === undefined || init === null) {
    res = Reflect.construct(NativeResponse, [body, init], target) as Response;
    fields = NO_FIELDS;
  } else if ((typeof body === "string" || body === undefined || body === null) && isPlain(init)) {
    res = constructFromPlainInit(body, init as InitMembers, target);
    fields = builtFields;
  } else {
    res = Reflect.construct(NativeResponse, [body, init], target) as Response;
    fields = plainFields(init);
  }
  let source = captureSource(body, init);
  if (source !== undefined) {
    // A derived type is a field the runtime added, which `fields` would miss.
    if (fields !== undefined && source.derivedType !== true) {
      // Shared sources (the null body's, a Blob stream's) are copied before they are marked.
      if (source === NULL_SOURCE || source.copied) source = { ...source };
      source.fields = fields;
    }
    keep(res, source);
    if (source.data !== null) {
      recent[recentAt] = res;
      recentAt = (recentAt + 1) % RECENT;
    }
  }
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
  // Where a clone's body or a Blob's stream comes from (see streamSources).
  replaceNative(NativeResponse.prototype, "clone", clone);
  replaceNative(Blob.prototype, "stream", stream);
  // `res.constructor === Response`, as before the swap.
  Object.defineProperty(NativeResponse.prototype, "constructor", { value: bound, writable: true, enumerable: false, configurable: true });
  (globalThis as { Response: unknown }).Response = bound;
}
