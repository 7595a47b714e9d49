// Test doubles for a session's two seams: a transport with a scriptable kernel buffer and a
// clock that only moves when the test says so.
import type { WsClock, WsTransport } from "../session.ts";
import { readServerFrames } from "./frames.ts";

export class FakeTransport implements WsTransport {
  written: number[] = [];
  ended = false;
  /** Bytes the "kernel" still takes before a write comes back short (Infinity: all). */
  budget = Infinity;

  write(bytes: Uint8Array): number {
    if (this.ended) return -1;
    const n = Math.min(bytes.length, this.budget);
    this.budget -= n;
    for (let i = 0; i < n; i++) this.written.push(bytes[i]!);
    return n;
  }

  end(): void {
    this.ended = true;
  }

  /** The server frames written so far (and forgets them). */
  take(): { op: number; fin: boolean; payload: Buffer }[] {
    const f = readServerFrames(new Uint8Array(this.written));
    this.written = [];
    return f;
  }
}

export class FakeClock implements WsClock {
  private t = 0;
  private timers = new Map<number, { at: number; fn: () => void }>();
  private next = 1;

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }

  clearTimeout(h: unknown): void {
    this.timers.delete(h as number);
  }

  get pending(): number {
    return this.timers.size;
  }

  /** Moves time forward, firing due timers in order (including ones they set). */
  advance(ms: number): void {
    const end = this.t + ms;
    for (let guard = 0; guard < 10_000; guard++) {
      let due: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].at <= end && (!due || e[1].at < due[1].at)) due = e;
      if (!due) break;
      this.timers.delete(due[0]);
      this.t = due[1].at;
      due[1].fn();
    }
    this.t = end;
  }
}
