// The app every server in bench/workers runs: plaintext at /, and at /cpu about 100 µs of
// hashing per request (a chain of SHA-256 digests: CPU-bound, no allocation worth noting), the
// kind of route where a second core should nearly double throughput. Each process counts what
// it served into BENCH_COUNT_DIR/<pid> so the bench can show how requests spread over processes.
import { writeFileSync } from "node:fs";
import { join } from "node:path";

/** SHA-256 digests chained per /cpu request: ~100 µs on the bench machine (printed by run.ts). */
export const CPU_HASHES = 500;
/** How often each process records its count (the bench waits longer than this before reading). */
const COUNT_EVERY_MS = 100;

const seed = new Uint8Array(64).fill(7);
export function burn(hashes = CPU_HASHES): Uint8Array {
  let d: Uint8Array = seed;
  for (let i = 0; i < hashes; i++) d = Bun.SHA256.hash(d) as Uint8Array;
  return d;
}

let served = 0;
const dir = process.env.BENCH_COUNT_DIR;
if (dir) setInterval(() => writeFileSync(join(dir, String(process.pid)), String(served)), COUNT_EVERY_MS).unref();

export default {
  fetch(request: Request): Response {
    served++;
    if (request.url.endsWith("/cpu")) return new Response(`cpu ${burn()[0]}`);
    return new Response("Hello World");
  },
};
