/**
 * The server under test in its own process (forked by remote.ts): argv[2] is
 * the Redis URL, or nothing for the embedded engine. Talks over IPC:
 *   → { type: 'ready', port, engine, shards }   once listening
 *   ← { type: 'usage' }                → { type: 'usage', usage }
 *   ← { type: 'profile-start' }        → { type: 'ok' }
 *   ← { type: 'profile-stop', file }   → { type: 'ok' }   (writes the .cpuprofile)
 *   ← { type: 'stop' }  closes the server and the Tollgate, then exits.
 */
import { startProfile, stopProfile } from '../lib/profiler.js';
import { startBenchServer } from './server.js';
import { currentUsage, type ServerUsage } from './usage.js';

export type ToChild =
  | { type: 'usage' }
  | { type: 'profile-start' }
  | { type: 'profile-stop'; file: string }
  | { type: 'stop' };
export type FromChild =
  | { type: 'ready'; port: number; engine: 'redis' | 'memory'; shards: number }
  | { type: 'usage'; usage: ServerUsage }
  | { type: 'ok' }
  | { type: 'error'; message: string };

const send = (m: FromChild) => process.send?.(m);
const message = (err: unknown) => (err instanceof Error ? (err.stack ?? err.message) : String(err));

async function main(): Promise<void> {
  const server = await startBenchServer(process.argv[2] || undefined);
  const reply = (p: Promise<void>) =>
    p.then(
      () => send({ type: 'ok' }),
      (err: unknown) => send({ type: 'error', message: message(err) }),
    );
  process.on('message', (m: ToChild) => {
    if (m.type === 'usage') send({ type: 'usage', usage: currentUsage() });
    else if (m.type === 'profile-start') void reply(startProfile());
    else if (m.type === 'profile-stop') void reply(stopProfile(m.file));
    else if (m.type === 'stop') server.close().finally(() => process.exit(0));
  });
  // The parent went away without a stop: do not linger.
  process.on('disconnect', () => {
    server.close().finally(() => process.exit(0));
  });
  send({ type: 'ready', port: server.port, engine: server.engine, shards: server.shards });
}

main().catch((err: unknown) => {
  send({ type: 'error', message: message(err) });
  process.exit(1);
});
