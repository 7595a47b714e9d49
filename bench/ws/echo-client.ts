// The echo client both WebSocket benches run in a process of its own (bench/ws/echo.ts,
// bench/ws/echo-core.ts): `connections` Bun WebSocket clients, each keeping one 32-byte text
// message in flight, counted for `seconds` after a 500 ms warm-up. Prints messages per second.
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
