// The second process of the contended runs: repeats one state operation on the same file
// until it is killed. `bun bench/state/contender.ts <file> <op>`
import * as fs from "node:fs";
import { makeRunners, type Op } from "./ops.ts";

const [file = "", op = "add"] = process.argv.slice(2);
const run = makeRunners(file)[op as Op].state;
fs.writeSync(1, "ready\n");
let sink = 0;
for (;;) sink += run(10_000) & 1;
