import type { Hono } from "hono";

/** The benchmark's Hono app (app.mjs): GET /, GET /json, GET /user/:id, POST /echo. */
export function benchApp(): Hono;
