#!/usr/bin/env bun
// The `liveframe` command. Everything lives in src/cli; this file only hands over argv.
import { main } from "../src/cli/main.ts";

process.exitCode = await main(process.argv.slice(2));
