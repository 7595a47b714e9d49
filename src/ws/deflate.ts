// permessage-deflate (RFC 7692), only without context takeover: every message is compressed and
// decompressed on its own, so a connection carries no compression state and can move to the next
// generation (a zlib context inside node:zlib cannot be serialized). It is also exactly what
// Bun.serve negotiates with `perMessageDeflate: true` (its default shared compressor): the same
// response, checked in deflate.test.ts against Bun.serve.
import { constants, deflateRawSync, inflateRawSync } from "node:zlib";
import type { ExtensionOffer } from "./handshake.ts";
import { CloseCode, WsProtocolError } from "./protocol.ts";

export const PERMESSAGE_DEFLATE = "permessage-deflate";
/** The only response this server gives: both sides reset their context after every message. */
export const DEFLATE_RESPONSE = "permessage-deflate; client_no_context_takeover; server_no_context_takeover";

/** RFC 7692 §7.2.1: the 4 bytes a sender strips from the end of a flushed block, re-added before inflating. */
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

const KNOWN_PARAMS = new Set(["server_no_context_takeover", "client_no_context_takeover", "server_max_window_bits", "client_max_window_bits"]);

/**
 * The Sec-WebSocket-Extensions response for the client's offers, or "" to decline. The first
 * acceptable permessage-deflate offer wins (RFC 7692 §5). An offer is declined when it has an
 * unknown parameter, a malformed value, or server_max_window_bits (accepting it would need a
 * smaller server window; Bun declines it too).
 */
export function negotiateDeflate(offers: readonly ExtensionOffer[]): string {
  for (const o of offers) {
    if (o.name !== PERMESSAGE_DEFLATE) continue;
    let ok = true;
    for (const [k, v] of Object.entries(o.params)) {
      if (!KNOWN_PARAMS.has(k) || k === "server_max_window_bits") ok = false;
      else if (k === "client_max_window_bits") {
        if (v !== true && !/^(?:[89]|1[0-5])$/.test(v)) ok = false;
      } else if (v !== true) ok = false;
    }
    if (ok) return DEFLATE_RESPONSE;
  }
  return "";
}

/** Whether a negotiated Sec-WebSocket-Extensions value (as moved with a WebSocket) enables deflate. */
export function deflateNegotiated(extensions: string): boolean {
  return extensions.split(",").some((e) => e.split(";")[0]!.trim().toLowerCase() === PERMESSAGE_DEFLATE);
}

/** One message's payload, compressed on its own, without the flush tail (RFC 7692 §7.2.1). */
export function compressMessage(data: Uint8Array): Buffer {
  const out = deflateRawSync(data, { finishFlush: constants.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - TAIL.length);
}

/**
 * A received compressed message, decompressed on its own (the client agreed to
 * client_no_context_takeover). More than `maxBytes` out → 1009 (a deflate bomb is stopped
 * there, not after it filled memory); corrupt data → 1007, as ws does.
 */
export function decompressMessage(data: Uint8Array, maxBytes: number): Buffer {
  const input = Buffer.allocUnsafe(data.length + TAIL.length);
  input.set(data, 0);
  input.set(TAIL, data.length);
  let out: Buffer;
  try {
    out = inflateRawSync(input, { finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: Math.max(1, maxBytes) });
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "ERR_BUFFER_TOO_LARGE") throw new WsProtocolError(CloseCode.messageTooBig, `a compressed message inflates to more than ${maxBytes} bytes (the server's maxMessageBytes)`);
    throw new WsProtocolError(CloseCode.invalidPayload, `a compressed message does not inflate (${code ?? (e as Error).message})`);
  }
  if (out.length > maxBytes) throw new WsProtocolError(CloseCode.messageTooBig, `a compressed message inflates to more than ${maxBytes} bytes (the server's maxMessageBytes)`);
  return out;
}
