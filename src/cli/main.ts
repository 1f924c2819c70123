#!/usr/bin/env node
import { consoleOut, failure, handleClosedPipes, runCli } from './index.js';

handleClosedPipes();
runCli(process.argv.slice(2), process.env, consoleOut).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const { code, line } = failure(err);
    consoleOut.error(line);
    process.exitCode = code;
  },
);
