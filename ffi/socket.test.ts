import { describe, expect, test } from "bun:test";
import {
  close,
  createListener,
  dup,
  encodeSockAddr,
  getIntOption,
  getSockName,
  isListening,
  isOpen,
  peerCred,
  socketPair,
  SOL_SOCKET,
  SO_REUSEADDR,
  SysError,
  getuid,
} from "./index.ts";

describe("encodeSockAddr", () => {
  const ok: [string, number, string][] = [
    ["127.0.0.1", 2, "7f000001"],
    ["0.0.0.0", 2, "00000000"],
    ["localhost", 2, "7f000001"],
    ["::", 10, "00000000000000000000000000000000"],
    ["::1", 10, "00000000000000000000000000000001"],
    ["[::1]", 10, "00000000000000000000000000000001"],
    ["fe80::1:2", 10, "fe800000000000000000000000010002"],
    ["1:2:3:4:5:6:7:8", 10, "00010002000300040005000600070008"],
    ["::ffff:10.1.2.3", 10, "00000000000000000000ffff0a010203"],
  ];
  for (const [host, family, hex] of ok) {
    test(`${host} encodes`, () => {
      const { family: fam, bytes } = encodeSockAddr(host, 8080);
      expect(fam).toBe(family);
      const addr = fam === 2 ? bytes.subarray(4, 8) : bytes.subarray(8, 24);
      expect(Buffer.from(addr).toString("hex")).toBe(hex);
      expect(new DataView(bytes.buffer).getUint16(2, false)).toBe(8080);
    });
  }
  for (const bad of ["example.com", "256.1.1.1", "1.2.3", "1::2::3", "1:2:3:4:5:6:7:8:9", "::g", "", "fe80::1%eth0"]) {
    test(`${JSON.stringify(bad)} is refused with a clear message`, () => {
      expect(() => encodeSockAddr(bad, 1)).toThrow(/not a numeric IPv4 or IPv6 address/);
    });
  }
});

describe("listeners", () => {
  test("createListener binds port 0, listens, sets SO_REUSEADDR, reports its address", () => {
    const { fd, address } = createListener({ hostname: "127.0.0.1", port: 0, backlog: 16 });
    try {
      expect(address.family).toBe("IPv4");
      expect(address.port).toBeGreaterThan(0);
      expect(isListening(fd)).toBe(true);
      expect(getIntOption(fd, SOL_SOCKET, SO_REUSEADDR)).toBe(1);
      expect(getSockName(fd)).toEqual(address);
    } finally {
      close(fd);
    }
  });

  test("IPv6 loopback listener", () => {
    const { fd, address } = createListener({ hostname: "::1", port: 0, backlog: 16 });
    close(fd);
    expect(address).toMatchObject({ family: "IPv6", address: "::1" });
  });

  test("a taken port fails with bind: EADDRINUSE and leaks no fd", () => {
    const first = createListener({ hostname: "127.0.0.1", port: 0, backlog: 16 });
    try {
      let err: unknown;
      try {
        createListener({ hostname: "127.0.0.1", port: first.address.port, backlog: 16 });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(SysError);
      expect((err as SysError).code).toBe("EADDRINUSE");
      expect((err as SysError).call).toBe("bind");
      expect((err as SysError).message).toContain(`port ${first.address.port}`);
      // The failed socket was closed: the next fd number is reused.
      const probe = dup(first.fd);
      close(probe);
      const again = dup(first.fd);
      expect(again).toBe(probe);
      close(again);
    } finally {
      close(first.fd);
    }
  });

  test("close of a closed fd is EBADF, never silent", () => {
    const [a, b] = socketPair();
    close(a);
    close(b);
    expect(isOpen(a)).toBe(false);
    expect(() => close(a)).toThrow(/close: EBADF/);
  });
});

test("SO_PEERCRED of a socketpair names this process", () => {
  const [a, b] = socketPair();
  try {
    expect(peerCred(a)).toEqual({ pid: process.pid, uid: getuid(), gid: expect.any(Number) });
  } finally {
    close(a);
    close(b);
  }
});
