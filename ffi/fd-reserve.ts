// Spare file descriptors held back for the moments that must not fail at the fd limit: receiving
// a handover's fds. recvmsg(2) installs each passed fd in the lowest free slot; with none free
// the kernel drops them and sets MSG_CTRUNC, and a lost listener or channel is a lost handover.
// So a process holds a few spares (copies of one /dev/null fd) and frees some right before such a
// recvmsg, taking them back after. Accepts cannot eat them meanwhile: they are real, open fds.
// Generations hold them; the supervisor needs none, as nothing ever sends it fds.
import { openSync } from "node:fs";
import { close } from "./socket.ts";
import { libc } from "./libc.ts";

/** fcntl(2) F_DUPFD_CLOEXEC: the copy is close-on-exec, so no child inherits a spare. */
const F_DUPFD_CLOEXEC = 1030;

export class FdReserve {
  private readonly source: number;
  private readonly spares: number[] = [];

  /** Opens /dev/null once and holds `target` copies of it (as many as the limit allows). */
  constructor(readonly target: number) {
    this.source = openSync("/dev/null", "r");
    this.refill();
  }

  /** Spares held now: at most `target`, fewer while some are lent out or the limit is reached. */
  get size(): number {
    return this.spares.length;
  }

  /** Closes up to `n` spares (their slots are free for the caller's next call); returns how many. */
  release(n: number): number {
    let freed = 0;
    while (freed < n && this.spares.length > 0) {
      close(this.spares.pop()!);
      freed++;
    }
    return freed;
  }

  /** Takes spares back up to `target`, as far as free slots allow (EMFILE ends it quietly). */
  refill(): void {
    while (this.spares.length < this.target) {
      const fd = libc.fcntl(this.source, F_DUPFD_CLOEXEC, 0);
      if (fd < 0) return;
      this.spares.push(fd);
    }
  }

  /** Runs `fn` with up to `n` spares freed for it, then takes them back. */
  lend<T>(n: number, fn: () => T): T {
    this.release(n);
    try {
      return fn();
    } finally {
      this.refill();
    }
  }

  /** Closes every spare and the /dev/null fd they copy. */
  dispose(): void {
    this.release(this.spares.length);
    close(this.source);
  }
}
