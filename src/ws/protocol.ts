// RFC 6455 vocabulary shared by the parser, encoder and session: opcodes, close codes and the
// error that fails a connection (§7.1.7) with the close code the peer must see.

export const OP_CONTINUATION = 0x0;
export const OP_TEXT = 0x1;
export const OP_BINARY = 0x2;
export const OP_CLOSE = 0x8;
export const OP_PING = 0x9;
export const OP_PONG = 0xa;

/** Close codes this engine sends or reports (RFC 6455 §7.4.1). */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  unsupportedData: 1003,
  /** Reported only, never sent: the close frame had no status code. */
  noStatus: 1005,
  /** Reported only, never sent: the connection ended without a close frame. */
  abnormal: 1006,
  invalidPayload: 1007,
  policyViolation: 1008,
  messageTooBig: 1009,
  internalError: 1011,
  /** Service restart: what a WebSocket that cannot move to the next generation is closed with. */
  serviceRestart: 1012,
} as const;

/** Largest payload of a control frame (RFC 6455 §5.5). */
export const MAX_CONTROL_PAYLOAD = 125;
/** A close reason fits a control frame after the 2-byte code. */
export const MAX_CLOSE_REASON_BYTES = MAX_CONTROL_PAYLOAD - 2;

/**
 * Whether `code` may appear in a close frame on the wire (RFC 6455 §7.4.1–§7.4.2 and the IANA
 * registry): 1000–1003, 1007–1014 are defined; 1004 is reserved, 1005/1006/1015 must never be
 * sent; 1016–2999 are reserved for future RFCs; 3000–4999 belong to libraries and applications.
 * 1012–1014 were registered after the RFC (IANA), and ws and Bun both accept them.
 */
export function isValidWireCloseCode(code: number): boolean {
  if (code >= 1000 && code <= 1014) return code !== 1004 && code !== 1005 && code !== 1006;
  return code >= 3000 && code <= 4999;
}

/** A violation that fails the WebSocket connection: the close code to send, and why. */
export class WsProtocolError extends Error {
  constructor(
    readonly closeCode: number,
    message: string,
  ) {
    super(message);
    this.name = "WsProtocolError";
  }
}
