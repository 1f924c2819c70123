export { consoleOut, handleClosedPipes, type Out } from './output.js';
export { commandPaths, failure, runCli } from './run.js';
