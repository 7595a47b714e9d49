// The object an app's WebSocket handlers hold: Bun's ServerWebSocket shape (data, readyState,
// send, close, ping, pong, terminate, getBufferedAmount, remoteAddress) over a WebSocketSession,
// plus the two things a WebSocket that moves between generations needs: `moved` and `attach`.
import type { JsonValue } from "./json.ts";
import type { WebSocketSession } from "./session.ts";
import type { Topics } from "./topics.ts";

export class LiveServerWebSocket<T = unknown> {
  /** The JSON value that moves with this WebSocket to the next generation (see attach). */
  private attachedValue: JsonValue = null;
  private readonly topicSet = new Set<string>();

  constructor(
    private readonly session: WebSocketSession,
    /** What the app passed to server.upgrade(req, { data }). */
    public data: T,
    readonly remoteAddress: string,
    /** True when this WebSocket was opened by a previous generation and moved here. */
    readonly moved = false,
    attached: JsonValue = null,
    /** The server's topics (ws.subscribe / publish); none outside the engine. */
    private readonly topics: Topics | null = null,
  ) {
    this.attachedValue = attached;
  }

  // ---- topics (Bun's API) ----

  subscribe(topic: string): void {
    if (this.topics === null || this.readyState !== 1) return;
    this.topicSet.add(String(topic));
    this.topics.subscribe(String(topic), this);
  }

  unsubscribe(topic: string): void {
    this.topicSet.delete(String(topic));
    this.topics?.unsubscribe(String(topic), this);
  }

  isSubscribed(topic: string): boolean {
    return this.topicSet.has(String(topic));
  }

  /** The topics this WebSocket is subscribed to (they move with it on reload). */
  get subscriptions(): string[] {
    return [...this.topicSet];
  }

  /** Sends to every other subscriber of `topic` (as Bun's ws.publish: not to this one). */
  publish(topic: string, data: string | ArrayBufferLike | ArrayBufferView, compress?: boolean): number {
    return this.topics?.publish(String(topic), data, compress, this) ?? 0;
  }

  /** Closed or moved away: out of every topic. */
  leaveTopics(): void {
    for (const t of this.topicSet) this.topics?.unsubscribe(t, this);
    this.topicSet.clear();
  }

  get readyState(): 0 | 1 | 2 | 3 {
    return this.session.readyState;
  }

  /** The negotiated subprotocol ("" for none). */
  get protocol(): string {
    return this.session.info.protocol;
  }

  get url(): string {
    return this.session.info.url;
  }

  /** Bytes written, -1 when queued behind backpressure, 0 when dropped (Bun's contract). `compress` matters only when permessage-deflate was negotiated. */
  send(data: string | ArrayBufferLike | ArrayBufferView, compress?: boolean): number {
    return this.session.send(data, compress);
  }

  sendText(data: string, compress?: boolean): number {
    return this.session.send(data, compress);
  }

  sendBinary(data: ArrayBufferLike | ArrayBufferView, compress?: boolean): number {
    return this.session.send(data, compress);
  }

  close(code?: number, reason?: string): void {
    this.session.close(code, reason);
  }

  terminate(): void {
    this.session.terminate();
  }

  ping(data?: string | Uint8Array): number {
    return this.session.ping(data);
  }

  pong(data?: string | Uint8Array): number {
    return this.session.pong(data);
  }

  /** Keeps this WebSocket from moving until `work` settles (its writes belong to this generation). */
  pinWhile(work: Promise<unknown>): void {
    this.session.pin();
    const release = () => this.session.unpin();
    work.then(release, release);
  }

  getBufferedAmount(): number {
    return this.session.bufferedAmount;
  }

  /**
   * Attaches a JSON value that moves with this WebSocket on reload; the next generation's
   * handler gets it back (ws.attached, and the open event's `attached`). Validated now, so a
   * value that cannot move fails here, in the app's code, not during the reload.
   */
  attach(value: JsonValue): void {
    let text: string | undefined;
    try {
      text = JSON.stringify(value);
    } catch (e) {
      throw new TypeError(`ws.attach(value): the value must be JSON (it moves to the next generation as JSON): ${(e as Error).message}`);
    }
    if (text === undefined) throw new TypeError("ws.attach(value): the value must be JSON (it moves to the next generation as JSON), got " + typeof value);
    this.attachedValue = JSON.parse(text) as JsonValue;
  }

  /** The value attached by this generation or, for a moved WebSocket, by the previous one. */
  get attached(): JsonValue {
    return this.attachedValue;
  }
}
