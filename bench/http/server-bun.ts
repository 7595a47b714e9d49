// Bun.serve + Hono on PORT; prints "ready <port>".
import { benchApp } from "./app.mjs";

const app = benchApp();
const server = Bun.serve({ port: Number(process.env.PORT ?? 0), hostname: "127.0.0.1", fetch: app.fetch });
console.log(`ready ${server.port}`);
