// All or nothing for a reload of N workers: each slot boots its new worker on its own, then
// waits here until every slot's has booted. If any fails, every waiting slot is told so and
// stops its new worker: no old worker has handed anything over yet, so all of them go on serving.

export class BootBarrier {
  private waiting: number;
  private resolveAll!: () => void;
  private rejectAll!: (e: Error) => void;
  private readonly all: Promise<void>;
  /** The first slot that failed, and why: the reload's cause. */
  cause: { worker: number; error: Error } | null = null;

  constructor(parties: number) {
    this.waiting = parties;
    this.all = new Promise<void>((resolve, reject) => {
      this.resolveAll = resolve;
      this.rejectAll = reject;
    });
    this.all.catch(() => {}); // a slot that never waits must not leave it unhandled
  }

  /** Slot `worker`'s new worker has booted: resolves once every slot's has; rejects if one failed. */
  booted(worker: number): Promise<void> {
    void worker;
    if (!this.cause && --this.waiting === 0) this.resolveAll();
    return this.all;
  }

  /** Slot `worker` could not boot its new worker (or could not start the reload at all). */
  failed(worker: number, error: Error): void {
    if (this.cause) return;
    this.cause = { worker, error };
    this.rejectAll(new Error(`worker ${worker}'s new generation failed to start, so this one is stopped too (every old worker keeps serving)`));
  }
}
