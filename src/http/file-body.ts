// What Bun.serve adds when a response body is a Blob or a Bun.file(), written down from what it
// sends (measured against Bun 1.4.5, see test/http-fidelity.test.ts): a single byte range of a
// file (206 / 416) and a Content-Disposition naming the file for types a browser would not show.
import { trimOws } from "./head.ts";

/** How a `Range` field applies to a body of `size` bytes. */
export type RangeOutcome =
  /** Not a single byte range Bun.serve would honour: send the whole body (200). */
  | null
  /** 416: the range starts at or past the end (or asks for the last 0 bytes). */
  | "unsatisfiable"
  /** 206 with bytes [start, end) (end exclusive). */
  | { start: number; end: number };

const DIGITS = /^\d+$/;

/**
 * A `Range: bytes=a-b | a- | -n` value, as Bun.serve reads it: one range only (a list is served
 * whole), spaces and tabs around it ignored, a reversed range ignored, the end clamped to the size.
 */
export function parseRange(value: string, size: number): RangeOutcome {
  if (!value.startsWith("bytes=")) return null;
  const spec = trimOws(value.slice(6));
  const dash = spec.indexOf("-");
  if (dash < 0) return null;
  const first = spec.slice(0, dash);
  const last = spec.slice(dash + 1);
  if (first === "") {
    if (!DIGITS.test(last)) return null;
    const n = Number(last);
    if (n === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - n), end: size };
  }
  if (!DIGITS.test(first) || (last !== "" && !DIGITS.test(last))) return null;
  const start = Number(first);
  const end = last === "" ? Infinity : Number(last);
  if (start > end) return null;
  if (start >= size) return "unsatisfiable";
  return { start, end: Math.min(end + 1, size) };
}

/**
 * Whether Bun.serve names the file in a Content-Disposition for this Content-Type: not for what a
 * browser displays itself (text, html, css, javascript, json, wasm, images, fonts, audio, video),
 * yes for everything else (application/octet-stream, zip, pdf, xml, unknown types). Matches the
 * runtime's mime categories, including their case-sensitivity.
 */
export function namesFileFor(contentType: string): boolean {
  const slash = contentType.indexOf("/");
  if (slash <= 0 || contentType.charCodeAt(0) === 0x2a /* * */ || slash === contentType.length - 1) return true;
  const major = contentType.slice(0, slash);
  let minor = contentType.slice(slash + 1);
  const semi = minor.indexOf(";");
  if (semi >= 0) minor = minor.slice(0, semi);
  switch (major) {
    case "application":
      return !(minor === "json" || minor === "geo+json" || minor === "wasm");
    case "text":
    case "font":
    case "image":
    case "audio":
    case "video":
      return false;
    default:
      return true;
  }
}

/** `filename="<last path segment>"`, as Bun.serve writes it. */
export function dispositionLine(name: string): string {
  const slash = name.lastIndexOf("/");
  return `content-disposition: filename="${slash >= 0 ? name.slice(slash + 1) : name}"\r\n`;
}

/** A Bun.file() (a file on disk, which Bun.serve serves with Range), not an in-memory Blob or File. */
export function isBunFile(blob: Blob): boolean {
  return typeof (blob as { name?: unknown }).name === "string" && !(blob instanceof File);
}

/** The name a Blob carries (Bun.file path or File name), "" for a plain Blob. */
export function blobName(blob: Blob): string {
  const n = (blob as { name?: unknown }).name;
  return typeof n === "string" ? n : "";
}
