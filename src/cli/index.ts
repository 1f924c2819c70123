export { consoleOut, type Out } from './output.js';
export { runCli } from './run.js';
