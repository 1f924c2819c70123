/** Where the CLI writes (injected, so tests can capture it). */
export interface Out {
  line(text: string): void;
  json(value: unknown): void;
  error(text: string): void;
}

/** The standard streams whose reader went away (EPIPE): nothing more is written to them. */
const closed = new Set<NodeJS.WriteStream>();

function write(stream: NodeJS.WriteStream, text: string): void {
  if (!closed.has(stream)) stream.write(text);
}

export const consoleOut: Out = {
  line: (text) => write(process.stdout, `${text}\n`),
  json: (value) => write(process.stdout, `${JSON.stringify(value, null, 2)}\n`),
  error: (text) => write(process.stderr, `${text}\n`),
};

/**
 * A reader that goes away (`tollgate agents list | head -1`) ends the
 * command quietly, with no stack trace: EPIPE on stdout or stderr stops the
 * output; a command ends at once with exit 0 (the commands print once the
 * API has answered: what they did is done), a server (serve, worker) shuts
 * down gracefully as on SIGTERM. Other stream errors are thrown as before.
 */
export function handleClosedPipes(): void {
  let ending = false;
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') throw e;
      closed.add(stream);
      if (ending) return;
      ending = true;
      // serve and worker listen for SIGTERM (their graceful shutdown).
      if (process.listenerCount('SIGTERM') > 0) process.kill(process.pid, 'SIGTERM');
      else process.exit(0);
    });
  }
}
