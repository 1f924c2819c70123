/** Where the CLI writes (injected, so tests can capture it). */
export interface Out {
  line(text: string): void;
  json(value: unknown): void;
  error(text: string): void;
}

export const consoleOut: Out = {
  line: (text) => process.stdout.write(`${text}\n`),
  json: (value) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`),
  error: (text) => process.stderr.write(`${text}\n`),
};
