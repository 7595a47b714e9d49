// Colours only where a human reads them: a terminal, and NO_COLOR unset (https://no-color.org).
// FORCE_COLOR lets CI logs opt in; `--no-color` opts out per run.
export interface Palette {
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
}

const ansi = (open: number, close: number) => (s: string) => `\x1b[${open}m${s}\x1b[${close}m`;
const plain = (s: string) => s;

export const colored: Palette = {
  bold: ansi(1, 22),
  dim: ansi(2, 22),
  red: ansi(31, 39),
  green: ansi(32, 39),
  yellow: ansi(33, 39),
  cyan: ansi(36, 39),
};

export const uncolored: Palette = { bold: plain, dim: plain, red: plain, green: plain, yellow: plain, cyan: plain };

/** Decides once per stream whether to colour, per NO_COLOR / FORCE_COLOR / isTTY. */
export function useColor(
  stream: { isTTY?: boolean },
  env: Record<string, string | undefined> = process.env,
  noColorFlag = false,
): boolean {
  if (noColorFlag) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== "" && env.FORCE_COLOR !== "0") return true;
  return stream.isTTY === true && env.TERM !== "dumb";
}

export function palette(on: boolean): Palette {
  return on ? colored : uncolored;
}
