import { describe, expect, test } from "bun:test";
import { normalizePath } from "./url.ts";

const whatwg = (p: string) => new URL(`http://h${p}`).href.slice("http://h".length);

describe("normalizePath: what the WHATWG URL parser (and Bun.serve) make of a target", () => {
  const cases = [
    "/", "/a/b?c=d", "/user/123", "/x?q=/../y", "/x?", "/a;b=c/d:e@f", "/%zz", "/.well-known/x", "/a.b/c.d",
    "/x/../admin/secret", "/x/%2e%2e/admin/secret", "/x/%2E%2E/admin", "/x\\..\\admin/secret", "/a/./b",
    "/a/b/..", "/a/..?x", "/a/%2e", "/a/.%2e/b", "/a/b/.", "//evil/x", '/"<>`{}^|', "/?'\"<>`{}^|", "/../..",
  ];
  for (const p of cases) test(JSON.stringify(p), () => expect(normalizePath(p)).toBe(whatwg(p)));

  test("no dot segment survives", () => {
    expect(normalizePath("/x/../admin/secret")).toBe("/admin/secret");
    expect(normalizePath("/x/%2e%2e/admin/secret")).toBe("/admin/secret");
    expect(normalizePath("/x\\..\\admin/secret")).toBe("/admin/secret");
  });

  test("plain targets are returned as they are (no copy)", () => {
    const p = "/user/123?x=1";
    expect(normalizePath(p)).toBe(p);
  });

  test("asterisk-form keeps the host: /*", () => expect(normalizePath("*")).toBe("/*"));
});
