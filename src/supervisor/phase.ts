// The supervisor's phase, one field, changed only by the transitions below. Draining is not a
// phase: since a reload returns once the new generation serves, old generations drain in the
// background while the supervisor serves, reloads again or restarts; each draining generation
// is tracked on its own (supervisor.ts `draining`).
export type Phase<G> =
  | { name: "booting" }
  | { name: "serving" }
  | { name: "reloading"; from: number; to: number; startedAt: number; next: G | null }
  | { name: "restarting"; attempt: number }
  | { name: "stopping"; done: Promise<void> };
export type PhaseName = Phase<unknown>["name"];

/** Which phase may follow which. A stop may begin in any phase but itself; nothing follows it. */
export const TRANSITIONS: Readonly<Record<PhaseName, readonly PhaseName[]>> = {
  booting: ["serving", "stopping"],
  serving: ["reloading", "restarting", "stopping"],
  reloading: ["serving", "stopping"],
  restarting: ["serving", "stopping"],
  stopping: [],
};

export class PhaseMachine<G> {
  private phase: Phase<G> = { name: "booting" };

  get current(): Readonly<Phase<G>> {
    return this.phase;
  }

  get name(): PhaseName {
    return this.phase.name;
  }

  /** The first generation serves (from booting), a reload or a restart ended. */
  serve(): void {
    this.to({ name: "serving" });
  }

  reload(from: number, to: number, startedAt: number): Extract<Phase<G>, { name: "reloading" }> {
    const p = { name: "reloading" as const, from, to, startedAt, next: null };
    this.to(p);
    return p;
  }

  restart(attempt: number): void {
    this.to({ name: "restarting", attempt });
  }

  stop(done: Promise<void>): void {
    this.to({ name: "stopping", done });
  }

  get stopping(): boolean {
    return this.phase.name === "stopping";
  }

  private to(next: Phase<G>): void {
    if (!TRANSITIONS[this.phase.name].includes(next.name)) {
      throw new Error(`supervisor: no transition from ${this.phase.name} to ${next.name} (a liveframe bug: please report it)`);
    }
    this.phase = next;
  }
}
