// The new side's room for adopted connections. Since old generations drain in the background,
// several may hand connections to this one at once (the reload's old generation, and older
// ones re-pointed here), each over its own `take` channel. Each offer is granted room out of
// what is free after every other channel's grant, and the server holds fds for the sum, so
// accepting cannot use them and two grants never promise the same fds.
import type { HttpServer } from "../http/index.ts";

type Server = Pick<HttpServer, "adoptCapacity" | "reserveForAdoption">;

export class AdoptionRoom {
  /** Room granted and not yet used, per take channel. */
  private readonly granted = new Map<object, number>();

  constructor(private readonly server: Server) {}

  /**
   * `listen.reserve`: the reload's old generation will offer about this many soon; hold fds for
   * them until its offer arrives (the server lets this lapse if none does).
   */
  expect(n: number): void {
    if (this.granted.size === 0 && n > 0) this.server.reserveForAdoption(n, { lapses: true });
  }

  /** An offer of `wanted` connections over channel `take`: grants what fits, holds fds for it, returns it. */
  grant(take: object, wanted: number): number {
    const mine = this.granted.get(take) ?? 0;
    // adoptCapacity() does not know what other channels were promised: take that off.
    const free = Math.max(0, this.server.adoptCapacity() - (this.total() - mine));
    const n = Math.min(wanted, Math.max(0, free - mine));
    this.granted.set(take, mine + n);
    this.sync();
    return n;
  }

  /** `n` connections arrived over `take` (adopted or not: the room was for them). */
  used(take: object, n: number): void {
    const mine = this.granted.get(take);
    if (mine === undefined) return;
    this.granted.set(take, Math.max(0, mine - n));
    this.sync();
  }

  /** Channel `take` is done or gone: its room is free again. */
  release(take: object): void {
    if (!this.granted.delete(take)) return;
    this.sync();
  }

  private total(): number {
    let n = 0;
    for (const v of this.granted.values()) n += v;
    return n;
  }

  private sync(): void {
    this.server.reserveForAdoption(this.total());
  }
}
