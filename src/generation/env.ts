// Everything a generation does to the world goes through this environment: the supervisor's
// channel, channels to other generations, the app loader, the HTTP engine, fds, the clock and
// exit. The process entry (main.ts) builds the real one; a test builds its own and drives a
// Generation through any failure (a recvmsg that fails, a peer killed at a chosen step, a
// dropped channel) without spawning a process.
import type { ChannelEnds, ChannelHandlers, GenerationMessage, PeerMessage } from "../handoff/index.ts";
import type { FetchApp, HttpServer } from "../http/index.ts";
import type { LoadedApp } from "./boot.ts";

/** One end of a channel to another generation (handoff Channel is the real one). */
export interface PeerChannel {
  readonly isOpen: boolean;
  /** Throws if the channel is closed or the fds cannot be sent. */
  send(m: PeerMessage, fds?: readonly number[]): void;
  close(): void;
}

export interface GenerationEnv {
  /** This process's pid (reported in `ready`). */
  readonly pid: number;
  /** Sends to the supervisor; dropped when its channel is gone (the generation is leaving then). */
  tell(m: GenerationMessage): void;
  /** Opens a channel to another generation over the two fds a `give`/`take` carried; owns them from the call on. */
  openPeer(ends: ChannelEnds, peer: string, handlers: ChannelHandlers<PeerMessage>): Promise<PeerChannel>;
  /** Imports the app and runs its start hook (boot.ts loadApp). */
  loadApp(entry: string): Promise<LoadedApp>;
  createServer(app: FetchApp, options: Record<string, unknown>): HttpServer;
  /**
   * Makes the generation number (LIVEFRAME_GENERATION), and with --workers the worker slot and
   * count (LIVEFRAME_WORKER, LIVEFRAME_WORKERS), visible to the app before it is imported.
   */
  announceNumber(n: number, worker?: number, workers?: number): void;
  closeFd(fd: number): void;
  now(): number;
  sleep(ms: number): Promise<void>;
  /** Calls fn every `ms` without keeping the process alive. */
  every(ms: number, fn: () => void): void;
  log(line: string): void;
  /** Writes shared state to disk before exit (no-op without the state layer). */
  syncState(): Promise<void>;
  exit(code: number): void;
}
