// When a server accepts: its listening sockets, and the two reasons it stops for a while without
// closing them (the kernel keeps queueing connections in the backlog meanwhile):
//  - held: a handover is deciding whether it can go ahead (pause()/resume());
//  - the fd budget is spent (fd-budget.ts): Bun's accept loop would spin on EMFILE, so accepting
//    stops before the limit and resumes as connections close.
// Bun accepts on a dup of each listening fd: its stop() closes the fd it was given (after taking
// it out of epoll), so the dup can come and go while ours stays open.
import type { TCPSocketListener } from "bun";
import { close, dup, libc } from "../../ffi/index.ts";
import { FdBudget, RESUME_ROOM_FDS } from "./fd-budget.ts";

/** poll(2) POLLIN: a connection waits in the listen backlog. */
const POLLIN = 0x001;
/** "Not accepting" is logged at most this often: near the limit a busy server pauses many times. */
const PAUSE_LOG_INTERVAL_MS = 10_000;
/** A reservation made before a handover starts lapses after this if no handover claims it. */
const RESERVATION_LAPSE_MS = 10_000;

export interface GatedServer {
  /** Connections open now. */
  connections(): number;
  /** Starts Bun accepting on `fd` (the gate passes a dup it owns no more). */
  accept(fd: number): TCPSocketListener<any>;
}

interface Listening {
  /** Ours: stays open while accepting is paused. */
  fd: number;
  port: number;
  /** Bun's, on a dup of `fd`; null while paused. */
  bun: TCPSocketListener<any> | null;
}

export class AcceptGate {
  private readonly listening: Listening[] = [];
  private held = false;
  private fdPaused = false;
  private resumeCheckScheduled = false;
  private reservationLapse: ReturnType<typeof setTimeout> | null = null;
  /** Pauses since the last "not accepting" message, when it was logged, and whether its "again" is due. */
  private pauses = 0;
  private pauseLoggedAt = -Infinity;
  private pauseLogged = false;

  constructor(
    private readonly server: GatedServer,
    readonly budget: FdBudget = new FdBudget(),
  ) {}

  get fds(): number[] {
    return this.listening.map((l) => l.fd);
  }

  get port(): number {
    return this.listening[0]?.port ?? 0;
  }

  /** Bun accepts on at least one listener now. */
  get accepting(): boolean {
    return this.listening.some((l) => l.bun !== null);
  }

  /** Takes a listening fd (ours from now on) and accepts on it unless paused. */
  add(fd: number, port: number): void {
    const l: Listening = { fd, port, bun: null };
    if (this.mayAccept() && this.budget.acceptRoom(this.server.connections(), Date.now(), true) <= 0) this.pauseForFds();
    if (this.mayAccept()) this.start(l);
    this.listening.push(l);
  }

  /** Stops accepting for now; resume() undoes it (accepting stays paused while the fd limit is near). */
  pause(): void {
    this.held = true;
    this.sync();
  }

  resume(): void {
    this.held = false;
    if (this.fdPaused) this.checkResume();
    else if (this.listening.length > 0 && this.budget.acceptRoom(this.server.connections(), Date.now(), true) <= 0) this.pauseForFds();
    this.sync();
  }

  /**
   * Stops for good: Bun's listeners and our fds are closed. A hold (pause()) ends with them: a
   * listener added later (a generation made to serve again) accepts at once.
   */
  close(): void {
    this.held = false;
    for (const l of this.listening.splice(0)) {
      l.bun?.stop(false);
      try {
        close(l.fd);
      } catch {
        // already closed
      }
    }
  }

  /**
   * Holds `n` fds free for connections a handover will bring: accepting leaves them alone, each
   * adopted() uses one up, and 0 ends it. One made before the handover starts (`lapses`) ends by
   * itself if no handover claims it.
   */
  reserve(n: number, lapses = false): void {
    if (this.reservationLapse !== null) clearTimeout(this.reservationLapse);
    this.reservationLapse = null;
    this.budget.reserved = Math.max(0, Math.floor(n));
    if (lapses && n > 0) {
      this.reservationLapse = setTimeout(() => this.reserve(0), RESERVATION_LAPSE_MS);
      (this.reservationLapse as { unref?: () => void }).unref?.();
    }
    if (this.fdPaused) this.scheduleResumeCheck();
    else this.opened(true);
  }

  /** How many connections a handover may bring now without running this process out of fds. */
  adoptCapacity(): number {
    return this.budget.adoptRoom(this.server.connections(), Date.now());
  }

  /** An adopted connection's fd is open here now: it uses up one fd held for the handover. */
  adopted(): void {
    if (this.budget.reserved > 0) this.budget.reserved--;
  }

  /** A connection opened: stop accepting if the fd budget is spent (called before Bun accepts the next). */
  opened(recount = false): void {
    if (!this.accepting) return;
    if (this.budget.acceptRoom(this.server.connections(), Date.now(), recount) <= 0) this.pauseForFds();
  }

  /** A connection closed. */
  closed(): void {
    if (this.fdPaused) this.scheduleResumeCheck();
  }

  /**
   * On the server's clock. The app may have opened fds of its own (no accept tells us): a
   * connection waiting in the backlog is the sign that Bun may be failing to accept it.
   */
  tick(): void {
    if (this.fdPaused) this.checkResume();
    else if (this.accepting && this.backlogWaiting()) this.opened();
    else if (this.mayAccept() && this.listening.length > 0 && !this.accepting) this.sync(); // a failed resume, retried
  }

  private mayAccept(): boolean {
    return !this.held && !this.fdPaused;
  }

  private start(l: Listening): void {
    const copy = dup(l.fd);
    try {
      l.bun = this.server.accept(copy);
    } catch (err) {
      close(copy);
      throw err;
    }
  }

  /** Starts or stops Bun's listeners to match mayAccept(); our own fds stay open either way. */
  private sync(): void {
    const on = this.mayAccept();
    for (const l of this.listening) {
      if (on && l.bun === null) {
        try {
          this.start(l);
        } catch (err) {
          console.error(`liveframe: resuming accepting on port ${l.port} failed: ${(err as Error).message}; retrying on the next clock tick`);
        }
      } else if (!on && l.bun !== null) {
        l.bun.stop(false);
        l.bun = null;
      }
    }
  }

  private pauseForFds(): void {
    if (this.fdPaused) return;
    this.fdPaused = true;
    this.sync();
    this.pauses++;
    const now = Date.now();
    if (now - this.pauseLoggedAt < PAUSE_LOG_INTERVAL_MS) return;
    const more = this.pauses > 1 ? ` (paused ${this.pauses} times since the last such message)` : "";
    this.pauses = 0;
    this.pauseLoggedAt = now;
    this.pauseLogged = true;
    const b = this.budget;
    console.error(
      `liveframe: not accepting new connections for now: ${this.server.connections()} connections open, close to the file descriptor limit ` +
        `(${b.limit}, keeping ${b.headroom} free${b.reserved > 0 ? ` and ${b.reserved} for a handover` : ""}); ` +
        `the kernel queues new connections until some close${more}. Raise the limit (ulimit -n, systemd LimitNOFILE=) to serve more at once`,
    );
  }

  private scheduleResumeCheck(): void {
    if (this.resumeCheckScheduled) return;
    this.resumeCheckScheduled = true;
    setImmediate(() => {
      this.resumeCheckScheduled = false;
      this.checkResume();
    });
  }

  private checkResume(): void {
    if (!this.fdPaused) return;
    const now = Date.now();
    const n = this.server.connections();
    // The estimate first (a count costs ~1 ms per 1,300 fds), then a count to confirm it.
    if (this.budget.acceptRoom(n, now) < RESUME_ROOM_FDS) return;
    if (this.budget.acceptRoom(n, now, true) < RESUME_ROOM_FDS) return;
    this.fdPaused = false;
    this.sync();
    if (this.accepting && this.pauseLogged) {
      this.pauseLogged = false;
      console.error(`liveframe: accepting new connections again (${n} open)`);
    }
  }

  /** A connection waits in some listener's backlog (poll(2), no wait). */
  private backlogWaiting(): boolean {
    const on = this.listening.filter((l) => l.bun !== null);
    if (on.length === 0) return false;
    const pfd = new DataView(new ArrayBuffer(8 * on.length));
    on.forEach((l, i) => {
      pfd.setInt32(8 * i, l.fd, true);
      pfd.setInt16(8 * i + 4, POLLIN, true);
    });
    return libc.poll(new Uint8Array(pfd.buffer), on.length, 0) > 0;
  }
}
