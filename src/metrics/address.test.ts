import { expect, test } from "bun:test";
import { resolveOptions, validateOptions } from "../cli/config.ts";
import { metricsUrl, parseMetricsAddress } from "./address.ts";

test.each([
  ["127.0.0.1:9464", { host: "127.0.0.1", port: 9464 }],
  ["0.0.0.0:0", { host: "0.0.0.0", port: 0 }],
  ["[::1]:9464", { host: "::1", port: 9464 }],
  ["9464", { host: "127.0.0.1", port: 9464 }],
  [9464, { host: "127.0.0.1", port: 9464 }],
  ["localhost:9100", { host: "127.0.0.1", port: 9100 }],
] as const)("--metrics %p parses", (input, expected) => {
  expect(parseMetricsAddress(input)).toEqual(expected);
});

test.each([
  ["127.0.0.1", "the port must be a whole number from 0 to 65535"],
  ["127.0.0.1:70000", "the port must be a whole number from 0 to 65535"],
  ["::1:9464", "write an IPv6 address in brackets, as [::1]:9464"],
  ["example.com:9464", '"example.com" is not a numeric IP address (host names are not resolved)'],
  ["", "the port must be a whole number"],
])("--metrics %p is refused: %s", (input, why) => {
  const r = parseMetricsAddress(input);
  expect(typeof r).toBe("string");
  expect(r as string).toContain(why);
  expect(r as string).toStartWith("expected HOST:PORT (e.g. 127.0.0.1:9464, [::1]:9464)");
});

test("as an option: a bad value is a usage error naming the flag or key; a good one resolves to an address", () => {
  expect(() => validateOptions({ metrics: "127.0.0.1:x" }, { kind: "flags" })).toThrow('--metrics "127.0.0.1:x": expected HOST:PORT');
  expect(() => validateOptions({ metrics: true }, { kind: "config", path: "/x/liveframe.config.json" })).toThrow('liveframe.config.json: "metrics" is true: expected HOST:PORT');
  const o = resolveOptions(validateOptions({ metrics: "[::1]:0" }, { kind: "flags" }), undefined, "/tmp");
  expect(o.metrics).toEqual({ host: "::1", port: 0 });
  expect(resolveOptions({}, undefined, "/tmp").metrics).toBeUndefined();
  expect(metricsUrl({ host: "::1", port: 9464 })).toBe("http://[::1]:9464/metrics");
});
