// The app bench/ws/reload.ts reloads: one WebSocket route answering with its generation.
import { Hono } from "hono";
import { generation, upgradeWebSocket } from "../../src/index.ts";

const app = new Hono();
app.get("/ws", upgradeWebSocket(() => ({ onMessage: (e, ws) => ws.send(`${generation.number} ${e.data}`) })));
app.get("/", (c) => c.text(`${generation.number} http`));
export default app;
