// Node + @hono/node-server on PORT; prints "ready <port>".
import { serve } from "@hono/node-server";
import { benchApp } from "./app.mjs";

serve({ fetch: benchApp().fetch, port: Number(process.env.PORT ?? 0), hostname: "127.0.0.1" }, (info) => {
  console.log(`ready ${info.port}`);
});
