// `--workers auto`: how many CPUs this process may really use. The affinity mask (taskset,
// a cpuset) limits which CPUs it may run on; a cgroup v2 CPU quota (docker --cpus, systemd
// CPUQuota=) limits how much CPU time it gets in all. More workers than either allows only
// adds context switches, so auto takes the smaller.
import { readFileSync } from "node:fs";
import { cpus } from "node:os";

/**
 * CPUs in a list like "0-3,8,10-11" (/proc/self/status Cpus_allowed_list), or null if it
 * does not parse.
 */
export function countCpuList(list: string): number | null {
  let n = 0;
  for (const part of list.trim().split(",")) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) return null;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) return null;
    n += hi - lo + 1;
  }
  return n > 0 ? n : null;
}

/**
 * CPUs a cgroup v2 `cpu.max` ("QUOTA PERIOD", or "max PERIOD" for no limit) allows, rounded
 * up (a quota of 1.5 CPUs keeps 2 workers busy part of the time), or null for no limit.
 */
export function cpusOfQuota(cpuMax: string): number | null {
  const m = /^(\d+|max)\s+(\d+)\s*$/.exec(cpuMax.trim());
  if (!m || m[1] === "max") return null;
  const quota = Number(m[1]);
  const period = Number(m[2]);
  if (period <= 0 || quota <= 0) return null;
  return Math.max(1, Math.ceil(quota / period));
}

function read(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}

/** The affinity mask's CPU count (/proc/self/status: the kernel's view of sched_getaffinity). */
function affinityCpus(): number | null {
  const status = read("/proc/self/status");
  const line = status?.split("\n").find((l) => l.startsWith("Cpus_allowed_list:"));
  return line ? countCpuList(line.slice("Cpus_allowed_list:".length)) : null;
}

/**
 * The tightest `cpu.max` from this process's cgroup (v2: the "0::" line of /proc/self/cgroup)
 * up to the root: a parent's quota limits its children too.
 */
function quotaCpus(root = "/sys/fs/cgroup"): number | null {
  const own = read("/proc/self/cgroup")
    ?.split("\n")
    .find((l) => l.startsWith("0::"))
    ?.slice(3)
    .trim();
  if (own === undefined) return null;
  let best: number | null = null;
  let dir = own === "/" ? "" : own.replace(/\/+$/, "");
  for (;;) {
    const max = read(`${root}${dir}/cpu.max`);
    const n = max === null ? null : cpusOfQuota(max);
    if (n !== null && (best === null || n < best)) best = n;
    if (dir === "") break;
    dir = dir.slice(0, dir.lastIndexOf("/"));
  }
  return best;
}

/** The CPUs this process may use: min(affinity mask, cgroup quota), at least 1. */
export function usableCpus(): number {
  const affinity = affinityCpus() ?? cpus().length;
  const quota = quotaCpus();
  return Math.max(1, quota === null ? affinity : Math.min(affinity, quota));
}
