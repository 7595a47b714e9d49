// ConnectionSender's batching against a recording `send`: batches stay within the frame budget,
// and a send that fails for one closed fd dooms neither the channel nor the other connections.
import { expect, test } from "bun:test";
import { MAX_FDS_PER_MESSAGE, SysError } from "../../ffi/index.ts";
import type { ReleasedConnection } from "../http/index.ts";
import { ConnectionSender } from "./connections.ts";
import type { PeerMessage } from "./messages.ts";

const EBADF = 9;

interface Fake extends ReleasedConnection {
  isClosed: () => boolean;
  outcome: "handedOver" | "kept" | null;
}

function fake(fd: number, buffered = new Uint8Array(0), isClosed = () => false): Fake {
  const f: Fake = {
    fd,
    buffered,
    remote: { address: "127.0.0.1", port: 40000 + fd },
    get closed() {
      return f.isClosed();
    },
    isClosed,
    outcome: null,
    handedOver() {
      f.outcome ??= "handedOver";
    },
    keep() {
      f.outcome ??= "kept";
    },
  };
  return f;
}

type Sent = { message: Extract<PeerMessage, { type: "connections" }>; fds: number[] };

function encodedBytes(m: Sent["message"]): number {
  return m.items.reduce((n, i) => n + i.buffered.length, 0);
}

test("a batch ends early at the byte budget; the rest go in the next batches, in order", () => {
  const sent: Sent[] = [];
  const sender = new ConnectionSender((m, fds) => sent.push({ message: m as Sent["message"], fds: [...fds] }), {
    batchBudgetBytes: 1000,
  });
  // 300 bytes each = 400 base64 characters: two fit in 1000 bytes with the JSON around them, three do not.
  const conns = Array.from({ length: 7 }, (_, i) => fake(100 + i, new Uint8Array(300).fill(65 + i)));
  for (const c of conns) sender.add(c);
  sender.flush();
  expect(sent.map((s) => s.fds)).toEqual([[100, 101], [102, 103], [104, 105], [106]]);
  for (const s of sent) expect(encodedBytes(s.message)).toBeLessThanOrEqual(1000);
  expect(Buffer.from(sent[3]!.message.items[0]!.buffered, "base64")).toEqual(Buffer.alloc(300, 65 + 6));
  sent.forEach((s) => sender.onAdopted(s.message.batch, []));
  expect(conns.every((c) => c.outcome === "handedOver")).toBe(true);
  expect([sender.moved, sender.failed, sender.settled]).toEqual([7, 0, true]);
});

test("one connection bigger than the budget still goes, alone", () => {
  const sent: Sent[] = [];
  const sender = new ConnectionSender((m, fds) => sent.push({ message: m as Sent["message"], fds: [...fds] }), {
    batchBudgetBytes: 100,
  });
  sender.add(fake(5, new Uint8Array(10)));
  sender.add(fake(6, new Uint8Array(500)));
  sender.add(fake(7));
  sender.flush();
  expect(sent.map((s) => s.fds)).toEqual([[5], [6], [7]]);
});

test("without buffered bytes, batches are cut at 253 fds only", () => {
  const sent: number[] = [];
  const sender = new ConnectionSender((_m, fds) => sent.push(fds.length));
  for (let i = 0; i < MAX_FDS_PER_MESSAGE + 10; i++) sender.add(fake(1000 + i));
  sender.flush();
  expect(sent).toEqual([MAX_FDS_PER_MESSAGE, 10]);
});

test("connections closed while queued are dropped, not sent and not failed", () => {
  const sent: number[][] = [];
  const sender = new ConnectionSender((_m, fds) => sent.push([...fds]));
  const conns = [fake(10), fake(11, undefined, () => true), fake(12)];
  for (const c of conns) sender.add(c);
  sender.flush();
  expect(sent).toEqual([[10, 12]]);
  expect([sender.gone, sender.failed]).toEqual([1, 0]);
  expect(conns[1]!.outcome).toBeNull();
});

test("EBADF from a connection that closed during the send: the closed one is dropped, the rest sent again", () => {
  let closedNow = false;
  const attempts: number[][] = [];
  const sender = new ConnectionSender((_m, fds) => {
    attempts.push([...fds]);
    if (fds.includes(21)) {
      closedNow = true; // Bun reported the close just now
      throw new SysError("sendmsg", EBADF, `${fds.length} fds on socket 3`);
    }
  });
  const conns = [fake(20), fake(21, undefined, () => closedNow), fake(22)];
  for (const c of conns) sender.add(c);
  sender.flush();
  expect(attempts).toEqual([
    [20, 21, 22],
    [20, 22],
  ]);
  sender.onAdopted(1, []);
  expect([conns[0]!.outcome, conns[1]!.outcome, conns[2]!.outcome]).toEqual(["handedOver", null, "handedOver"]);
  expect([sender.moved, sender.failed, sender.gone, sender.settled]).toEqual([2, 0, 1, true]);
  // Not broken: later connections still go.
  sender.add(fake(23));
  sender.flush();
  expect(attempts.at(-1)).toEqual([23]);
});

test("EBADF that dropping closed connections does not cure: keep() them here, the sender stays usable", () => {
  const attempts: number[][] = [];
  const sender = new ConnectionSender((_m, fds) => {
    attempts.push([...fds]);
    if (fds.includes(31)) throw new SysError("sendmsg", EBADF, "");
  });
  const conns = [fake(30), fake(31)];
  for (const c of conns) sender.add(c);
  sender.flush();
  expect(attempts.length).toBe(2);
  expect(conns.map((c) => c.outcome)).toEqual(["kept", "kept"]);
  sender.add(fake(32));
  sender.flush();
  expect(attempts.at(-1)).toEqual([32]);
});

test("any other send failure means the channel is broken: everything unconfirmed is kept and served here, never closed", () => {
  const sender = new ConnectionSender(() => {
    throw new Error("channel to generation 2 is closed");
  });
  const conns = [fake(40), fake(41)];
  for (const c of conns) sender.add(c);
  sender.flush();
  expect(conns.map((c) => c.outcome)).toEqual(["kept", "kept"]);
  expect([sender.kept, sender.failed, sender.moved]).toEqual([2, 0, 0]);
  const late = fake(42);
  sender.add(late);
  expect(late.outcome).toBe("kept");
});

test("the peer dies with batches in flight: confirmed ones are its own, unconfirmed ones are kept here (not closed)", () => {
  const sent: number[][] = [];
  const sender = new ConnectionSender((_m, fds) => void sent.push([...fds]));
  const first = [fake(50), fake(51)];
  for (const c of first) sender.add(c);
  sender.flush();
  const second = [fake(52), fake(53)];
  for (const c of second) sender.add(c);
  sender.flush();
  expect(sent).toEqual([
    [50, 51],
    [52, 53],
  ]);
  sender.onAdopted(0, []); // the first batch was confirmed, the second never is
  sender.abandon();
  expect([...first, ...second].map((c) => c.outcome)).toEqual(["handedOver", "handedOver", "kept", "kept"]);
  expect([sender.moved, sender.kept, sender.settled]).toEqual([2, 2, true]);
});
