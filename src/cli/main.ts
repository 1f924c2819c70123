#!/usr/bin/env node
import { consoleOut, runCli } from './index.js';

runCli(process.argv.slice(2), process.env, consoleOut).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`tollgate: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
