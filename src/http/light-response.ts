// A Response that remembers the string or bytes it was built from, so the writer can send them
// without the runtime's async body machinery (no promise, no stream per request).
//
// It is installed as globalThis.Response only while app.fetch runs synchronously (the connection
// swaps it in and out around the call): code elsewhere in the process (Bun.serve, tests,
// libraries, the app after an await) never sees it; they get SourceResponse, a real Response.
// To app code it is a Response: `instanceof Response` holds both ways, and every member it does
// not keep itself is read from a real Response built on first use. Anything it cannot represent
// exactly (a Headers object, a stream, a Blob, FormData, an invalid status) makes the constructor
// return a real Response instead, so semantics and errors are the runtime's own.

const g = globalThis as { Response: unknown };
export const NativeResponse = globalThis.Response;

/** Where a SourceResponse keeps what it was built from. */
export const kSource = Symbol("liveframe.responseSource");

/**
 * A real Response (the runtime's own object: Bun.serve, fetch and every API accept it) that also
 * remembers its body source, so the writer can send a string or bytes body without reading it
 * back through a ReadableStream (measured: ~3.4 µs per response for the stream, 0 for this).
 * Installed as globalThis.Response by the first server (see installSourceResponse). `instanceof`
 * accepts every Response, including ones the runtime makes itself (fetch, Response.json).
 */
export class SourceResponse extends NativeResponse {
  [kSource]: unknown;
  constructor(body?: any, init?: any) {
    super(body, init);
    this[kSource] = body === undefined ? null : body;
  }
  static override [Symbol.hasInstance](value: unknown): boolean {
    return value instanceof NativeResponse;
  }
}
Object.defineProperty(SourceResponse, "name", { value: "Response" });

let installed = false;
/** Makes SourceResponse the global Response (once per process). */
export function installSourceResponse(): void {
  if (installed) return;
  installed = true;
  g.Response = SourceResponse;
}

export type LightBody = string | Uint8Array | null;
export interface LightInit {
  status?: number;
  statusText?: string;
  headers?: Record<string, string> | [string, string][];
}

/** Statuses that must not carry a body (Fetch: null body status). */
function isNullBodyStatus(s: number): boolean {
  return s === 101 || s === 204 || s === 205 || s === 304;
}

export class LightResponse {
  /** @internal */ _body: LightBody = null;
  /** @internal */ _init: LightInit | undefined = undefined;
  /** @internal */ _native: Response | undefined = undefined;

  constructor(body?: unknown, init?: unknown) {
    if (body === undefined) body = null;
    if (
      !(body === null || typeof body === "string" || body instanceof Uint8Array) ||
      (init !== undefined && !isPlainInit(init, body !== null))
    ) {
      // Not something we can keep exactly: let the runtime build (or reject) it.
      return new SourceResponse(body as any, init as any) as any;
    }
    this._body = body as LightBody;
    this._init = init as LightInit | undefined;
  }

  /** The real Response, made once; from then on every member reads from it. */
  _materialize(): Response {
    return (this._native ??= new SourceResponse(this._body, this._init as ResponseInit));
  }

  static [Symbol.hasInstance](value: unknown): boolean {
    return value instanceof NativeResponse;
  }
}

function isPlainInit(init: unknown, hasBody: boolean): boolean {
  if (typeof init !== "object" || init === null) return false;
  const i = init as Record<string, unknown>;
  if (Object.getPrototypeOf(i) !== Object.prototype) return false;
  const status = i.status;
  if (status !== undefined) {
    if (typeof status !== "number" || !Number.isInteger(status) || status < 200 || status > 599) return false;
    if (hasBody && isNullBodyStatus(status)) return false;
  }
  if (i.statusText !== undefined && typeof i.statusText !== "string") return false;
  const h = i.headers;
  if (h !== undefined && h !== null && !Array.isArray(h) && Object.getPrototypeOf(h) !== Object.prototype) return false;
  return true;
}

for (const key of Reflect.ownKeys(NativeResponse.prototype)) {
  if (key === "constructor") continue;
  const desc = Object.getOwnPropertyDescriptor(NativeResponse.prototype, key)!;
  if (typeof desc.value === "function") {
    Object.defineProperty(LightResponse.prototype, key, {
      configurable: true,
      writable: true,
      value: function (this: LightResponse, ...args: unknown[]) {
        return (this._materialize() as any)[key](...args);
      },
    });
  } else if (desc.get) {
    Object.defineProperty(LightResponse.prototype, key, {
      configurable: true,
      get(this: LightResponse) {
        return (this._materialize() as any)[key];
      },
    });
  }
}
// `status` and `ok` are read on every response by frameworks and by our writer: answer them
// without building the real Response.
Object.defineProperty(LightResponse.prototype, "status", {
  configurable: true,
  get(this: LightResponse) {
    return this._native !== undefined ? this._native.status : (this._init?.status ?? 200);
  },
});
Object.defineProperty(LightResponse.prototype, "ok", {
  configurable: true,
  get(this: LightResponse) {
    const s = this._native !== undefined ? this._native.status : (this._init?.status ?? 200);
    return s >= 200 && s < 300;
  },
});
Object.setPrototypeOf(LightResponse.prototype, NativeResponse.prototype);
Object.setPrototypeOf(LightResponse, NativeResponse);

/** True for a LightResponse itself (instanceof would also accept real Responses, by design). */
export function isLight(x: unknown): x is LightResponse {
  return typeof x === "object" && x !== null && Object.getPrototypeOf(x) === LightResponse.prototype;
}

