// liveframe serve() on PORT; prints "ready <port>".
import { serve } from "../../src/http/index.ts";
import { benchApp } from "./app.mjs";

const server = serve(benchApp(), { port: Number(process.env.PORT ?? 0), hostname: "127.0.0.1" });
console.log(`ready ${server.port}`);
