// The client's address survives a reload: a keep-alive connection handed to the next generation
// (another process, its fd passed with SCM_RIGHTS) reports the same peer through hono/bun's
// getConnInfo and liveframe's, served by the real CLI.
import { expect, test } from "bun:test";
import { cleanUpAfterEachTest, RawClient, REPO, servedBy, startServer } from "./fixtures/harness.ts";

cleanUpAfterEachTest();

const SOURCE = `
import { Hono } from ${JSON.stringify(import.meta.resolve("hono"))};
import { getConnInfo as honoBun } from ${JSON.stringify(import.meta.resolve("hono/bun"))};
import { generation, getConnInfo } from ${JSON.stringify(`${REPO}/src/index.ts`)};
const app = new Hono();
app.get("/conninfo", (c) => c.text(\`\${generation.number} \${process.pid} \${JSON.stringify([getConnInfo(c), honoBun(c)])}\`));
export default app;
`;

test("a connection moved by a reload keeps its peer's address and port", async () => {
  const server = await startServer({ source: SOURCE });
  const c = await RawClient.open(server.port);
  const port = c.socket.localPort!;
  const remote = { remote: { address: "127.0.0.1", addressType: "IPv4", port } };
  const ask = async () => {
    const r = await c.get("/conninfo");
    expect(r.status).toBe(200);
    return { generation: servedBy(r.body).generation, info: JSON.parse(r.body.slice(r.body.indexOf("["))) };
  };
  expect(await ask()).toEqual({ generation: 1, info: [remote, remote] });
  const r = await server.reload();
  expect(r.code).toBe(0);
  expect(r.stdout).toContain("1 connection handed over");
  expect(await ask()).toEqual({ generation: 2, info: [remote, remote] });
  expect(c.closed).toBe(false);
}, 60_000);
