import { expect, test } from "bun:test";
import { type FlagSpec, flagToKey, keyToFlag, parseArgs } from "./args.ts";
import { closest, editDistance } from "./suggest.ts";

const flags: FlagSpec[] = [
  { name: "port", short: "p", type: "number", value: "N", help: "" },
  { name: "host", type: "string", value: "ADDR", help: "" },
  { name: "health", type: "boolean", help: "" },
  { name: "drain-timeout", type: "number", value: "S", help: "" },
];
const parse = (argv: string[], max = 1) => parseArgs(argv, flags, "liveframe start", max);

test("flags: --name value, --name=value, -p value, -pVALUE, booleans and --no-", () => {
  const a = parse(["--port", "0", "--host=::1", "app.ts", "--health", "--drain-timeout", "2.5"]);
  expect(a.positionals).toEqual(["app.ts"]);
  expect(Object.fromEntries(a.flags)).toEqual({ port: 0, host: "::1", health: true, "drain-timeout": 2.5 });
  expect(parse(["-p", "8080"]).flags.get("port")).toBe(8080);
  expect(parse(["-p8080"]).flags.get("port")).toBe(8080);
  expect(parse(["--no-health"]).flags.get("health")).toBe(false);
  expect(parse(["--health=false"]).flags.get("health")).toBe(false);
  expect(parse(["--", "--port"]).positionals).toEqual(["--port"]);
});

test("a non-numeric value for a number flag stays a string for the schema to reject with its name", () => {
  expect(parse(["--port", "abc"]).flags.get("port")).toBe("abc");
  expect(parse(["--port", "-1"]).flags.get("port")).toBe(-1);
});

test("unknown flags suggest the closest known one", () => {
  expect(() => parse(["--prot", "3"])).toThrow('unknown flag --prot for "liveframe start": did you mean --port?');
  expect(() => parse(["--drain=3"])).toThrow("did you mean --drain-timeout?");
  expect(() => parse(["--zzzzzzzz"])).toThrow('run "liveframe start --help"');
  expect(() => parse(["-x"])).toThrow("unknown flag -x");
});

test("missing values and extra arguments are usage errors (exit code 2)", () => {
  expect(() => parse(["--port"])).toThrow("--port needs a value: liveframe start --port N");
  expect(() => parse(["--port", "--health"])).toThrow("--port needs a value");
  expect(() => parse(["a.ts", "b.ts"])).toThrow('"b.ts" was not expected');
  expect(() => parse(["x"], 0)).toThrow("takes no arguments");
  try {
    parse(["--prot"]);
  } catch (e) {
    expect((e as { exitCode: number }).exitCode).toBe(2);
  }
  expect(() => parse(["--health=maybe"])).toThrow("expected true or false");
});

test("flag names and option keys map both ways", () => {
  expect(flagToKey("drain-timeout")).toBe("drainTimeout");
  expect(keyToFlag("maxHeaderBytes")).toBe("max-header-bytes");
  expect(flagToKey(keyToFlag("headersTimeoutMs"))).toBe("headersTimeoutMs");
});

test("suggestions: edit distance, prefixes, and nothing for unrelated words", () => {
  expect(editDistance("strat", "start")).toBe(2);
  expect(closest("strat", ["dev", "start", "stop", "status"])).toBe("start");
  expect(closest("relaod", ["reload", "status"])).toBe("reload");
  expect(closest("stat", ["start", "status", "stop"])).toBeDefined();
  expect(closest("ini", ["init", "dev"])).toBe("init");
  expect(closest("deploy", ["dev", "start", "stop", "init"])).toBeUndefined();
});
