// A syntax check of a saved file before `dev` spends a generation on it: the transpiler
// answers in a millisecond with file, line and column, and the old generation is untouched.
import { readFileSync } from "node:fs";
import { extname } from "node:path";

export interface SyntaxProblem {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly message: string;
  readonly lineText: string;
}

const LOADERS: Record<string, "ts" | "tsx" | "js" | "jsx"> = {
  ".ts": "ts",
  ".mts": "ts",
  ".cts": "ts",
  ".tsx": "tsx",
  ".js": "js",
  ".mjs": "js",
  ".cjs": "js",
  ".jsx": "jsx",
};

/** Checks one file; undefined when it parses (or is not a script, or is gone). */
export function checkSyntax(file: string): SyntaxProblem | undefined {
  const loader = LOADERS[extname(file)];
  if (!loader) return undefined;
  let code: string;
  try {
    code = readFileSync(file, "utf8");
  } catch {
    return undefined; // deleted or renamed mid-save: the reload will say what is missing
  }
  try {
    new Bun.Transpiler({ loader }).transformSync(code);
    return undefined;
  } catch (e) {
    // Several problems arrive as an AggregateError ("Parse error"); the first is the one to fix.
    type BuildMessage = { message?: string; position?: { line?: number; column?: number; lineText?: string } | null };
    const errors = (e as { errors?: BuildMessage[] }).errors;
    const err: BuildMessage = errors?.[0] ?? (e as BuildMessage);
    return {
      file,
      line: err.position?.line ?? 0,
      column: err.position?.column ?? 0,
      message: err.message ?? String(e),
      lineText: err.position?.lineText ?? "",
    };
  }
}

/** `src/app.ts:2:11: Unexpected ";"` followed by the line and a caret under the column. */
export function formatSyntaxProblem(p: SyntaxProblem, shownFile: string): string {
  const head = `${shownFile}:${p.line}:${p.column}: ${p.message}`;
  if (!p.lineText) return head;
  const gutter = `${p.line} | `;
  return `${head}\n  ${gutter}${p.lineText}\n  ${" ".repeat(gutter.length + Math.max(0, p.column - 1))}^`;
}
