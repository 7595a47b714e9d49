// Serialising a response head: status line, the app's header fields (validated where the runtime
// has not done it already), and the fields the engine owns (Date, framing, Connection).
import { TCHAR } from "./head.ts";

/** "date: <IMF-fixdate>\r\n", rebuilt at most once a second (RFC 9110 §6.6.1 wants 1 s resolution). */
let dateSecond = -1;
let dateText = "";
export function dateLine(): string {
  const now = Date.now();
  const sec = Math.floor(now / 1000);
  if (sec !== dateSecond) {
    dateSecond = sec;
    dateText = `date: ${new Date(sec * 1000).toUTCString()}\r\n`;
  }
  return dateText;
}

/** What the app's fields said about things the engine decides (filled by the serialisers below). */
export interface FieldFacts {
  hasContentType: boolean;
  /** The Content-Type value ("" when absent): decides Content-Disposition for file bodies. */
  contentType: string;
  hasContentDisposition: boolean;
  hasDate: boolean;
  /** The app asked for Connection: close. */
  close: boolean;
  /** The app's Content-Length value, "" when absent (used for HEAD and 304 only). */
  contentLength: string;
  /** Some name or value was not valid on the wire (CR, LF, NUL, non-token name): do not send. */
  invalid: boolean;
  /** Some value has a non-ASCII character: the head must be written as latin1 bytes. */
  wide: boolean;
}

export function newFieldFacts(): FieldFacts {
  return { hasContentType: false, contentType: "", hasContentDisposition: false, hasDate: false, close: false, contentLength: "", invalid: false, wide: false };
}

function copyFacts(from: FieldFacts, to: FieldFacts): void {
  to.hasContentType = from.hasContentType;
  to.contentType = from.contentType;
  to.hasContentDisposition = from.hasContentDisposition;
  to.hasDate = from.hasDate;
  to.close = from.close;
  to.contentLength = from.contentLength;
  to.invalid = from.invalid;
  to.wide = from.wide;
}

function resetFacts(f: FieldFacts): void {
  f.hasContentType = false;
  f.contentType = "";
  f.hasContentDisposition = false;
  f.hasDate = false;
  f.close = false;
  f.contentLength = "";
  f.invalid = false;
  f.wide = false;
}

// Names the engine owns or inspects, by length, to skip lower-casing everything else.
function field(name: string, value: string, f: FieldFacts, trusted: boolean): string {
  switch (name.length) {
    case 4:
      if (name.toLowerCase() === "date") f.hasDate = true;
      break;
    case 10: {
      const l = name.toLowerCase();
      if (l === "connection") {
        if (/(^|,)\s*close\s*(,|$)/i.test(value)) f.close = true;
        return "";
      }
      // Keep-Alive is the app's to send: Bun.serve passes it through (measured), as it does
      // Upgrade and Proxy-Connection.
      break;
    }
    case 12:
      if (name.toLowerCase() === "content-type") {
        f.hasContentType = true;
        f.contentType = value;
      }
      break;
    case 14:
      if (name.toLowerCase() === "content-length") {
        // Echoed on the wire for HEAD and 304, so it must be 1*DIGIT (RFC 9110 §8.6): anything
        // else (CR/LF above all: response splitting) makes the response invalid.
        if (value.length === 0) f.invalid = true;
        for (let i = 0; i < value.length; i++) {
          const c = value.charCodeAt(i);
          if (c < 48 || c > 57) f.invalid = true;
        }
        f.contentLength = value;
        return "";
      }
      break;
    case 17:
      if (name.toLowerCase() === "transfer-encoding") return "";
      break;
    case 19:
      if (name.toLowerCase() === "content-disposition") f.hasContentDisposition = true;
      break;
  }
  if (!trusted) {
    if (name.length === 0) f.invalid = true;
    for (let i = 0; i < name.length; i++) if (!TCHAR[name.charCodeAt(i)]) f.invalid = true;
  }
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c > 0x7e) {
      if (c === 0x7f || c > 0xff) f.invalid = true; // not a ByteString: the runtime would refuse it too
      else f.wide = true;
    } else if (c < 0x20 && c !== 0x09) f.invalid = true; // CR, LF, NUL …: response splitting
  }
  return `${name}: ${value}\r\n`;
}

/**
 * Header lines from `[name, value, …]` as the runtime stores them (validated by it, see
 * BodySource.fields). The arrays never change once made, and one is often reused (see
 * constructFromPlainInit): the last one's lines and facts are kept.
 */
export function linesFromFields(fields: string[], f: FieldFacts): string {
  if (fields === lastFields) {
    copyFacts(lastFacts, f);
    return lastLines;
  }
  resetFacts(f);
  let out = "";
  for (let i = 0; i < fields.length; i += 2) out += field(fields[i]!, fields[i + 1]!, f, true);
  lastFields = fields;
  lastLines = out;
  copyFacts(f, lastFacts);
  return out;
}
let lastFields: string[] | null = null;
let lastLines = "";
const lastFacts = newFieldFacts();

/**
 * The runtime's Headers hold exactly `fields` (distinct names, as the runtime stores them): as
 * many fields, each with its value. Set-Cookie is not checked this way (its values are not
 * combined): such fields are read back.
 */
export function headersAre(h: Headers, fields: string[]): boolean {
  if ((h as { count?: number }).count !== fields.length / 2) return false;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    if (name === "set-cookie" || h.get(name) !== fields[i + 1]) return false;
  }
  return true;
}

/** Header lines from a Headers object (already validated by the runtime). */
export function linesFromHeaders(h: Headers, f: FieldFacts): string {
  resetFacts(f);
  // Bun's Headers has `count`: skip everything when there is nothing to write.
  if ((h as { count?: number }).count === 0) return "";
  // Bun's toJSON gives the same names and combined values as iterating, in one native call
  // (half the cost of the iterator's entry arrays); Set-Cookie comes as a list, one line each.
  const toJSON = (h as { toJSON?: () => Record<string, string | string[]> }).toJSON;
  let out = "";
  if (typeof toJSON !== "function") {
    for (const [name, value] of h) out += field(name, value, f, true);
    return out;
  }
  const all = toJSON.call(h);
  for (const name in all) {
    const value = all[name]!;
    if (typeof value === "string") out += field(name, value, f, true);
    else for (const v of value) out += field(name, v, f, true);
  }
  return out;
}
