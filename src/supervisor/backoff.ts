// One backoff rule for everything the supervisor retries (crash restarts, standby respawns):
// the first retry at once, then `min`, doubling up to `max`, so a loop neither spins nor waits
// too long once the cause is fixed.
export function backoffMs(failuresInARow: number, min: number, max: number): number {
  if (failuresInARow <= 1) return 0;
  return Math.min(max, min * 2 ** (failuresInARow - 2));
}
