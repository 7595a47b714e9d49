import { afterEach, expect, test } from "bun:test";
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { close, sendFile, setNonBlocking, socketPair, SysError } from "./index.ts";

const open: number[] = [];
let dir = "";
afterEach(() => {
  for (const fd of open.splice(0)) {
    try {
      close(fd);
    } catch {
      // already closed by the test
    }
  }
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
  dir = "";
});

function fixture(bytes: Uint8Array): number {
  dir = mkdtempSync(join(tmpdir(), "liveframe-sendfile-"));
  writeFileSync(join(dir, "f"), bytes);
  const fd = openSync(join(dir, "f"), "r");
  return fd;
}

test("sends a byte range of a file into a socket; 0 at the end of the file", () => {
  const data = new Uint8Array(1000).map((_, i) => i & 0xff);
  const file = fixture(data);
  const [a, b] = socketPair();
  open.push(a, b);
  try {
    expect(sendFile(a, file, 100, 50)).toBe(50);
    const got = Buffer.alloc(50);
    expect(readSync(b, got, 0, 50, null)).toBe(50);
    expect(got.equals(Buffer.from(data.subarray(100, 150)))).toBe(true);
    expect(sendFile(a, file, 1000, 10)).toBe(0);
  } finally {
    closeSync(file);
  }
});

test("a full non-blocking socket answers -1 (EAGAIN), a closed peer throws a SysError", () => {
  const file = fixture(new Uint8Array(4 * 1024 * 1024));
  const [a, b] = socketPair();
  open.push(a, b);
  try {
    setNonBlocking(a, true);
    let sent = 0;
    let n = 0;
    // Bounded: the socket buffer is far smaller than the file.
    for (let i = 0; i < 10_000 && (n = sendFile(a, file, sent, 1024 * 1024)) > 0; i++) sent += n;
    expect(n).toBe(-1);
    expect(sent).toBeGreaterThan(0);
    close(b);
    open.splice(open.indexOf(b), 1);
    expect(() => sendFile(a, file, sent, 1024)).toThrow(SysError);
  } finally {
    closeSync(file);
  }
});
