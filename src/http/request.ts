// A Request that does no work until the app asks: Hono routes on `method` and `url` alone, so the
// Headers object, the body stream and the real Request are built only when something reads them.
// It is a Request to app code (`instanceof Request`, every property and method), because its
// prototype chain runs through Request.prototype and every member we do not implement here is
// forwarded to a real Request made on first use.

import type { PeerAddress } from "./conninfo.ts";
import type { RequestHead } from "./head.ts";

const NativeRequest = globalThis.Request;
const EMPTY = new Uint8Array(0);
const utf8 = new TextDecoder();

export class LiveRequest {
  /** @internal */ _method: string;
  /** @internal */ _url: string;
  /** @internal */ _head: RequestHead;
  /** @internal The whole body, or a stream of it when it is large and still arriving. */
  _body: Uint8Array | ReadableStream<Uint8Array> | null;
  /** @internal */ _headers: Headers | undefined = undefined;
  /** @internal */ _real: Request | undefined = undefined;
  /** @internal */ _bodyUsed = false;
  /** @internal Made when someone asks for `signal`; aborted when the client goes away mid-request. */
  _abort: AbortController | undefined = undefined;
  /** @internal The client's address (the connection's, shared: never written through). */
  _peer: PeerAddress | null;

  constructor(
    method: string,
    url: string,
    head: RequestHead,
    body: Uint8Array | ReadableStream<Uint8Array> | null,
    peer: PeerAddress | null = null,
  ) {
    this._method = method;
    this._url = url;
    this._head = head;
    this._body = body;
    this._peer = peer;
  }

  get method(): string {
    return this._method;
  }
  get url(): string {
    return this._url;
  }
  get headers(): Headers {
    if (this._real !== undefined) return this._real.headers;
    if (this._headers === undefined) {
      const h = new Headers();
      const o = this._head.fieldOffsets;
      const b = this._head.buf;
      for (let i = 0; i < o.length; i += 4) h.append(b.toString("latin1", o[i]!, o[i + 1]!), b.toString("latin1", o[i + 2]!, o[i + 3]!));
      this._headers = h;
    }
    return this._headers;
  }
  get signal(): AbortSignal {
    if (this._real !== undefined) return this._real.signal;
    return (this._abort ??= new AbortController()).signal;
  }
  get bodyUsed(): boolean {
    // Read by a fast reader before the real Request existed: used, whatever the real one says
    // (it was made without the body).
    return this._bodyUsed || (this._real !== undefined && this._real.bodyUsed);
  }

  /** The real Request, made once; from then on every member reads from it. */
  _materialize(): Request {
    if (this._real === undefined) {
      const m = this._method;
      const hasBody = m !== "GET" && m !== "HEAD" && this._body !== null && !this._bodyUsed;
      this._real = new NativeRequest(this._url, {
        method: m,
        headers: this.headers,
        body: hasBody ? this._body : null,
        signal: (this._abort ??= new AbortController()).signal,
        duplex: "half", // a streamed body is read while it arrives
      } as RequestInit);
    }
    return this._real;
  }

  /** The body bytes for the fast readers below; rejects a second read like a real Request. */
  private takeBody(): Uint8Array {
    if (this._bodyUsed) throw new TypeError("Body already used");
    this._bodyUsed = true;
    return (this._body as Uint8Array | null) ?? EMPTY;
  }

  /** A streamed body is read through the real Request (the fast readers need the bytes at hand). */
  private get streamed(): boolean {
    return this._body !== null && !(this._body instanceof Uint8Array);
  }

  text(): Promise<string> {
    if (this._real !== undefined || this.streamed) return this._materialize().text();
    try {
      return Promise.resolve(utf8.decode(this.takeBody()));
    } catch (e) {
      return Promise.reject(e);
    }
  }
  json(): Promise<any> {
    if (this._real !== undefined || this.streamed) return this._materialize().json();
    try {
      return Promise.resolve(JSON.parse(utf8.decode(this.takeBody())));
    } catch (e) {
      return Promise.reject(e);
    }
  }
  arrayBuffer(): Promise<ArrayBuffer> {
    if (this._real !== undefined || this.streamed) return this._materialize().arrayBuffer();
    try {
      const b = this.takeBody();
      return Promise.resolve(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
    } catch (e) {
      return Promise.reject(e);
    }
  }
  bytes(): Promise<Uint8Array> {
    if (this._real !== undefined || this.streamed) return this._materialize().bytes();
    try {
      return Promise.resolve(this.takeBody().slice());
    } catch (e) {
      return Promise.reject(e);
    }
  }
}

/** The client went away before the response was complete: abort `request.signal` (as Bun.serve does). */
export function abortRequest(req: LiveRequest): void {
  req._abort?.abort(new DOMException("the client closed the connection", "AbortError"));
}

// Everything else a Request has (body, clone, formData, blob, cache, …) comes from a real
// Request built on demand. Enumerated from the runtime's own prototype, so nothing is missed.
for (const key of Reflect.ownKeys(NativeRequest.prototype)) {
  if (key === "constructor" || Object.prototype.hasOwnProperty.call(LiveRequest.prototype, key)) continue;
  const desc = Object.getOwnPropertyDescriptor(NativeRequest.prototype, key)!;
  if (typeof desc.value === "function") {
    Object.defineProperty(LiveRequest.prototype, key, {
      configurable: true,
      writable: true,
      value: function (this: LiveRequest, ...args: unknown[]) {
        const real = this._materialize() as any;
        return real[key](...args);
      },
    });
  } else if (desc.get) {
    Object.defineProperty(LiveRequest.prototype, key, {
      configurable: true,
      get(this: LiveRequest) {
        return (this._materialize() as any)[key];
      },
    });
  }
}
Object.setPrototypeOf(LiveRequest.prototype, NativeRequest.prototype);
// What an app reads as the request's class is Request's own: `req.constructor === Request`,
// `constructor.name` "Request" (as on Bun.serve), `Symbol.toStringTag` inherited. Set on our own
// prototype only; nothing global changes.
Object.defineProperty(LiveRequest.prototype, "constructor", { value: NativeRequest, writable: true, enumerable: false, configurable: true });
