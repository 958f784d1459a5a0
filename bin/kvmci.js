#!/usr/bin/env node
import module from "node:module";

// Node 22.1 and later keep the compiled bundle between runs (a no-op on Node 20).
module.enableCompileCache?.();
const { main } = await import("../dist/cli.js");

process.exitCode = await main(process.argv.slice(2), process);
