import { expect, test } from "bun:test";
import { EventEmitter } from "node:events";
import { lineWriter } from "./output.ts";

const failing = (code: string) => Object.assign(new Error(`${code}: write`), { code });

test("EPIPE thrown by write closes the writer quietly; later lines are dropped", () => {
  const written: string[] = [];
  let broken = false;
  const out = lineWriter({
    write(chunk: string) {
      if (broken) throw failing("EPIPE");
      written.push(chunk);
    },
  });
  out("one");
  broken = true;
  out("two");
  out("three");
  expect(written).toEqual(["one\n"]);
  expect(out.closed).toBe(true);
});

test("EPIPE emitted later as an 'error' event is swallowed; other errors are not", () => {
  const stream = Object.assign(new EventEmitter(), { write: () => true });
  const out = lineWriter(stream);
  stream.emit("error", failing("EPIPE"));
  expect(out.closed).toBe(true);
  const other = Object.assign(new EventEmitter(), { write: () => { throw failing("EIO"); } });
  const out2 = lineWriter(other);
  expect(() => out2("x")).toThrow("EIO");
  expect(() => other.emit("error", failing("EIO"))).toThrow("EIO");
});
