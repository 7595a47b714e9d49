// Grants of room to several take channels at once never promise the same fds twice, and the
// server holds fds for exactly what is promised and not yet used.
import { expect, test } from "bun:test";
import { AdoptionRoom } from "./adoption-room.ts";

function fakeServer(capacity: number) {
  const s = {
    capacity,
    reserved: 0,
    lapses: false,
    adoptCapacity: () => s.capacity,
    reserveForAdoption: (n: number, o?: { lapses?: boolean }) => {
      s.reserved = n;
      s.lapses = o?.lapses ?? false;
    },
  };
  return s;
}

test("two channels: the second is granted only what the first was not promised; use and release free it again", () => {
  const s = fakeServer(10);
  const room = new AdoptionRoom(s);
  const a = {};
  const b = {};
  expect(room.grant(a, 6)).toBe(6);
  expect(s.reserved).toBe(6);
  expect(room.grant(b, 6)).toBe(4);
  expect(s.reserved).toBe(10);
  // a asks for more: nothing left.
  expect(room.grant(a, 1)).toBe(0);
  // Three of a's arrive: the server's connections grow as its promise shrinks.
  s.capacity -= 3;
  room.used(a, 3);
  expect(s.reserved).toBe(7);
  expect(room.grant(b, 1)).toBe(0);
  room.release(a);
  expect(s.reserved).toBe(4);
  expect(room.grant(b, 5)).toBe(3);
  expect(s.reserved).toBe(7);
  room.release(b);
  expect(s.reserved).toBe(0);
});

test("listen's reserve is held (lapsing) until the first offer replaces it", () => {
  const s = fakeServer(100);
  const room = new AdoptionRoom(s);
  room.expect(40);
  expect([s.reserved, s.lapses]).toEqual([40, true]);
  expect(room.grant({}, 30)).toBe(30);
  expect([s.reserved, s.lapses]).toEqual([30, false]);
  // Once a channel holds room, a later listen's reserve does not override it.
  room.expect(80);
  expect(s.reserved).toBe(30);
});
