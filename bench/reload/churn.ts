// Connection-per-request load: `loops` clients, each opening a connection, sending one
// request with `connection: close`, reading the response to the end, and starting over.
// Every outcome is counted: ok, non-2xx, refused, reset, closed without a response, other.
//   bun churn.ts PORT LOOPS  (runs until SIGTERM, then prints one JSON line)
import { connect } from "node:net";

const port = Number(process.argv[2]);
const loops = Number(process.argv[3] ?? 8);
const tally = { ok: 0, non2xx: 0, refused: 0, reset: 0, closedEarly: 0, other: 0, errors: [] as string[] };
let running = true;

function once(): Promise<void> {
  return new Promise((resolve) => {
    let got = "";
    let err: string | null = null;
    const s = connect(port, "127.0.0.1");
    s.setEncoding("latin1");
    s.on("connect", () => s.write("GET / HTTP/1.1\r\nhost: bench\r\nconnection: close\r\n\r\n"));
    s.on("data", (d: string) => (got += d));
    s.on("error", (e: NodeJS.ErrnoException) => (err = e.code ?? e.message));
    s.on("close", () => {
      const complete = /\r\n\r\n/.test(got) && got.endsWith("Hello World");
      if (complete && got.startsWith("HTTP/1.1 2")) tally.ok++;
      else if (complete) tally.non2xx++;
      else if (err === "ECONNREFUSED") tally.refused++;
      else if (err === "ECONNRESET") tally.reset++;
      else if (err === null) tally.closedEarly++;
      else {
        tally.other++;
        if (tally.errors.length < 5) tally.errors.push(err);
      }
      resolve();
    });
  });
}

process.on("SIGTERM", () => (running = false));
await Promise.all(
  Array.from({ length: loops }, async () => {
    while (running) await once();
  }),
);
console.log(JSON.stringify(tally));
process.exit(0);
