export { consoleOut, type Out } from './output.js';
export { failure, runCli } from './run.js';
