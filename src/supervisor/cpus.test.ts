import { expect, test } from "bun:test";
import { countCpuList, cpusOfQuota, usableCpus } from "./cpus.ts";

test("an affinity list counts ranges and single CPUs; garbage is null", () => {
  expect(countCpuList("0-1")).toBe(2);
  expect(countCpuList("0-3,8,10-11\n")).toBe(7);
  expect(countCpuList("5")).toBe(1);
  expect(countCpuList("3-1")).toBeNull();
  expect(countCpuList("x")).toBeNull();
});

test("a cgroup v2 cpu.max quota rounds up to whole CPUs; max is no limit", () => {
  expect(cpusOfQuota("max 100000\n")).toBeNull();
  expect(cpusOfQuota("200000 100000")).toBe(2);
  expect(cpusOfQuota("150000 100000")).toBe(2);
  expect(cpusOfQuota("50000 100000")).toBe(1);
  expect(cpusOfQuota("nonsense")).toBeNull();
});

test("usableCpus is at least 1 and at most the affinity mask (taskset on this machine)", async () => {
  const n = usableCpus();
  expect(n).toBeGreaterThanOrEqual(1);
  // One CPU by affinity: a child pinned with taskset sees 1.
  if (Bun.which("taskset")) {
    const p = Bun.spawn(["taskset", "-c", "0", process.execPath, "-e", `import { usableCpus } from ${JSON.stringify(import.meta.dir + "/cpus.ts")}; console.log(usableCpus())`], { stdout: "pipe" });
    expect((await new Response(p.stdout).text()).trim()).toBe("1");
    await p.exited;
  }
});
