#!/usr/bin/env node
import { consoleOut, failure, runCli } from './index.js';

runCli(process.argv.slice(2), process.env, consoleOut).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const { code, line } = failure(err);
    process.stderr.write(`${line}\n`);
    process.exitCode = code;
  },
);
