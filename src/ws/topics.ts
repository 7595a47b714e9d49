// Bun-style topics (ws.subscribe / ws.publish / server.publish) within one server. A WebSocket's
// subscriptions move with it to the next generation (MovedWebSocket.topics); with --workers each
// worker process has its own subscribers (a publish reaches those of its own process only).
import type { LiveServerWebSocket } from "./server-websocket.ts";

export class Topics {
  private readonly subscribers = new Map<string, Set<LiveServerWebSocket<any>>>();

  subscribe(topic: string, ws: LiveServerWebSocket<any>): void {
    let set = this.subscribers.get(topic);
    if (set === undefined) this.subscribers.set(topic, (set = new Set()));
    set.add(ws);
  }

  unsubscribe(topic: string, ws: LiveServerWebSocket<any>): void {
    const set = this.subscribers.get(topic);
    if (set === undefined) return;
    set.delete(ws);
    if (set.size === 0) this.subscribers.delete(topic);
  }

  count(topic: string): number {
    return this.subscribers.get(topic)?.size ?? 0;
  }

  /**
   * Sends to every subscriber of `topic` but `except`. As Bun's publish: bytes sent (of one
   * message), 0 when nobody got it (no subscriber, or all dropped it), -1 when queued behind
   * backpressure somewhere.
   */
  publish(topic: string, data: string | ArrayBufferLike | ArrayBufferView, compress?: boolean, except?: LiveServerWebSocket<any>): number {
    const set = this.subscribers.get(topic);
    if (set === undefined) return 0;
    let result = 0;
    for (const ws of [...set]) {
      if (ws === except) continue;
      const n = ws.send(data, compress);
      if (n === -1) result = -1;
      else if (n > 0 && result !== -1) result = n;
    }
    return result;
  }
}
