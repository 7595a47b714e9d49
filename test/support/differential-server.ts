// One side of the differential test, in its own process: loads an app module and serves its
// default export on 127.0.0.1 with an ephemeral port, either with liveframe's `serve()` (from this
// checkout's src) or with `Bun.serve({ fetch: app.fetch })`. Prints one line `{"port":N}` once
// it listens, and exits when its stdin closes (the test process went away) or on SIGTERM.
//
// A process of its own per side, because liveframe changes process-wide state when a server
// starts (it installs its own global Response); a reference Bun.serve in the same process would
// see that too and stop being a reference.
//
//   bun test/support/differential-server.ts <liveframe|bun> <absolute path of the app module>
import { z } from "zod";

const argsSchema = z.tuple([z.enum(["liveframe", "bun"]), z.string().min(1)]);
const parsed = argsSchema.safeParse(process.argv.slice(2));
if (!parsed.success) {
  console.error("usage: bun test/support/differential-server.ts <liveframe|bun> <app module path>");
  process.exit(2);
}
const [engine, modulePath] = parsed.data;

// liveframe's side imports liveframe before the app, as a liveframe generation does (runtime
// first, the app at boot) and as a script that imports "liveframe" first does.
const engineModule = engine === "liveframe" ? await import("../../src/http/index.ts") : null;
const mod = (await import(modulePath)) as { default?: { fetch?: unknown } };
const app = mod.default;
if (!app || typeof app.fetch !== "function") {
  console.error(`${modulePath}: its default export has no fetch(): export the Hono app as default`);
  process.exit(2);
}
const fetchApp = app as { fetch: (req: Request, env?: unknown) => Response | Promise<Response> };

let port: number;
let stop: () => unknown;
if (engine === "liveframe") {
  const { serve } = engineModule!;
  const server = serve(fetchApp, { port: 0, hostname: "127.0.0.1" });
  port = server.port;
  stop = () => server.stop({ graceful: false });
} else {
  // development: false: the reference is a production server (in development Bun.serve answers an
  // uncaught error with a 50 KB HTML debugging page instead of a plain 500).
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", development: false, fetch: fetchApp.fetch });
  port = server.port!;
  stop = () => server.stop(true);
}

async function exit(): Promise<void> {
  try {
    await stop();
  } finally {
    process.exit(0);
  }
}
process.on("SIGTERM", () => void exit());
process.stdin.on("end", () => void exit());
process.stdin.on("close", () => void exit());
process.stdin.resume();
console.log(JSON.stringify({ port }));
