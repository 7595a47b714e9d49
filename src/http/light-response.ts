// A Response that remembers the string or bytes it was built from, so the writer can send them
// without the runtime's async body machinery (no promise, no stream per request).
//
// It is installed as globalThis.Response only while app.fetch runs synchronously (see
// `withLightResponse`): code elsewhere in the process (Bun.serve, tests, libraries) never sees it.
// To app code it is a Response: `instanceof Response` holds both ways, and every member it does
// not keep itself is read from a real Response built on first use. Anything it cannot represent
// exactly (a Headers object, a stream, a Blob, FormData, an invalid status) makes the constructor
// return a real Response instead, so semantics and errors are the runtime's own.

export const NativeResponse = globalThis.Response;

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
  /** @internal */ _body: LightBody;
  /** @internal */ _init: LightInit | undefined;
  /** @internal */ _native: Response | undefined;

  constructor(body?: unknown, init?: unknown) {
    if (body === undefined) body = null;
    if (
      !(body === null || typeof body === "string" || body instanceof Uint8Array) ||
      (init !== undefined && !isPlainInit(init, body !== null))
    ) {
      // Not something we can keep exactly: let the runtime build (or reject) it.
      return new NativeResponse(body as any, init as any) as any;
    }
    this._body = body as LightBody;
    this._init = init as LightInit | undefined;
    this._native = undefined;
  }

  /** The real Response, made once; from then on every member reads from it. */
  _materialize(): Response {
    return (this._native ??= new NativeResponse(this._body, this._init as ResponseInit));
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

const g = globalThis as { Response: unknown };

/** Runs fn with LightResponse as the global Response; restores the real one even if fn throws. */
export function withLightResponse<T>(fn: () => T): T {
  g.Response = LightResponse;
  try {
    return fn();
  } finally {
    g.Response = NativeResponse;
  }
}
