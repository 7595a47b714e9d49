// The app both servers run in bench/reload: Hono, plaintext.
import { Hono } from "hono";

const app = new Hono();
app.get("/", (c) => c.text("Hello World"));
export default app;
