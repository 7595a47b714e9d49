import { expect, test } from "bun:test";
import { DEFAULT_MAX_MESSAGE_BYTES, parseWebSocketOptions } from "./limits.ts";
import { defaultSessionOptions } from "./session.ts";

test("defaults fill every option, and match the session's defaults", () => {
  const o = parseWebSocketOptions(undefined);
  expect(o.maxMessageBytes).toBe(DEFAULT_MAX_MESSAGE_BYTES);
  expect(o.perMessageDeflate).toBe(false);
  const { perMessageDeflate: _, ...session } = o;
  expect(session).toEqual(defaultSessionOptions);
});

test("a wrong option names itself and says where the list is", () => {
  expect(() => parseWebSocketOptions({ maxMessageBytes: -1, idleTimeout: 5 })).toThrow(/maxMessageBytes must be greater than 0; unknown option "idleTimeout" \(see webSocketOptionsSchema/);
  expect(() => parseWebSocketOptions({ sendPings: "yes" })).toThrow(/sendPings must be true or false/);
});
