// The echo client both WebSocket benches run in a process of its own (bench/ws/echo.ts,
// bench/ws/echo-core.ts): `connections` Bun WebSocket clients, each keeping one 32-byte text
// message in flight, counted for `seconds` after a 500 ms warm-up. Prints messages per second.
// measureEcho runs one round against one server variant of the calling script.
export async function runEchoClient(port: number, connections: number, seconds: number): Promise<never> {
  const msg = "x".repeat(32);
  let count = 0;
  let running = true;
  const sockets: WebSocket[] = [];
  await Promise.all(
    Array.from({ length: connections }, () => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
      sockets.push(ws);
      ws.onmessage = () => {
        count++;
        if (running) ws.send(msg);
      };
      return new Promise<void>((resolve, reject) => {
        ws.onopen = () => resolve();
        ws.onerror = () => reject(new Error("connect failed"));
      });
    }),
  );
  for (const ws of sockets) ws.send(msg);
  await Bun.sleep(500); // warm-up
  const start = count;
  const t0 = performance.now();
  await Bun.sleep(seconds * 1000);
  const n = count - start;
  const ms = performance.now() - t0;
  running = false;
  for (const ws of sockets) ws.close();
  console.log(Math.round(n / (ms / 1000)));
  process.exit(0);
}

/**
 * One round: starts `script --server variant` (it prints its port), runs `script --client` against
 * it in another process, and returns the messages per second it counted.
 */
export async function measureEcho(script: string, variant: string, connections: number, seconds: number): Promise<number> {
  const server = Bun.spawn([process.execPath, script, "--server", variant], { stdout: "pipe", stderr: "inherit" });
  try {
    const reader = server.stdout.getReader();
    const { value } = await reader.read();
    const port = Number(new TextDecoder().decode(value).trim());
    const client = Bun.spawn([process.execPath, script, "--client", String(port), String(connections), String(seconds)], { stdout: "pipe", stderr: "inherit" });
    const out = await new Response(client.stdout).text();
    if ((await client.exited) !== 0) throw new Error(`client failed against ${variant}`);
    return Number(out.trim());
  } finally {
    server.kill();
    await server.exited;
  }
}
