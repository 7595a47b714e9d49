import { describe, expect, test } from "bun:test";
import { createServerEnv, getConnInfo, type PeerAddress } from "./conninfo.ts";
import { parseHead } from "./head.ts";
import { LiveRequest } from "./request.ts";

const wire = Buffer.from("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
const head = parseHead(wire, 0, wire.length, { maxHeaderBytes: 4096, maxHeaderCount: 10, maxUrlLength: 100, maxBodyBytes: 10 });
const live = (peer: PeerAddress | null) => new LiveRequest("GET", "http://a/", head, null, peer) as unknown as Request;
const v4: PeerAddress = { address: "127.0.0.1", family: "IPv4", port: 5000 };
const mapped: PeerAddress = { address: "::ffff:10.0.0.1", family: "IPv6", port: 6000 };

describe("getConnInfo: hono/bun's ConnInfo shape, from whatever served the request", () => {
  const cases: [string, { req: { raw: Request }; env?: unknown }, unknown][] = [
    ["a liveframe request (env not needed)", { req: { raw: live(v4) } }, { remote: { address: "127.0.0.1", addressType: "IPv4", port: 5000 } }],
    ["a v4-mapped peer", { req: { raw: live(mapped) } }, { remote: { address: "::ffff:10.0.0.1", addressType: "IPv6", port: 6000 } }],
    ["a liveframe request whose peer is unknown", { req: { raw: live(null) } }, { remote: {} }],
    ["Bun.serve's server as env", { req: { raw: new Request("http://a/") }, env: { requestIP: () => ({ address: "::1", family: "IPv6", port: 7 }) } }, { remote: { address: "::1", addressType: "IPv6", port: 7 } }],
    ["an env that wraps the server ({ server })", { req: { raw: new Request("http://a/") }, env: { server: { requestIP: () => v4 } } }, { remote: { address: "127.0.0.1", addressType: "IPv4", port: 5000 } }],
    ["a family Hono does not know", { req: { raw: new Request("http://a/") }, env: { requestIP: () => ({ address: "x", family: "unix", port: 0 }) } }, { remote: { address: "x", addressType: undefined, port: 0 } }],
    ["no env at all (never throws)", { req: { raw: new Request("http://a/") } }, { remote: {} }],
    ["an env without requestIP", { req: { raw: new Request("http://a/") }, env: { FOO: "bar" } }, { remote: {} }],
    ["requestIP answering null", { req: { raw: new Request("http://a/") }, env: { requestIP: () => null } }, { remote: {} }],
  ];
  for (const [name, c, expected] of cases) test(name, () => expect(getConnInfo(c)).toEqual(expected as never));
});

describe("the env passed to app.fetch", () => {
  const env = createServerEnv();
  test("requestIP: a copy of the connection's address for its requests, null for any other Request", () => {
    const r = live(v4);
    const got = env.requestIP(r);
    expect(got).toEqual(v4);
    expect(got).not.toBe(v4); // the app may change its copy; the connection's stays
    expect(env.requestIP(new Request("http://a/"))).toBeNull();
  });
  test("timeout is accepted", () => expect(env.timeout(live(v4), 0)).toBeUndefined());
  test("upgrade of a request that is no WebSocket upgrade returns false, as Bun's", () => {
    expect(env.upgrade(live(v4))).toBe(false);
  });
});
