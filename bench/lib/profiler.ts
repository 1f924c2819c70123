/**
 * A V8 CPU profile of this process over one measured run (node:inspector),
 * written as a .cpuprofile that Chrome DevTools, speedscope or
 * profile-summary.ts read.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';

let session: Session | undefined;

export async function startProfile(): Promise<void> {
  if (session === undefined) {
    session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    // 100 µs between samples (the default is 1 ms): enough samples in a few seconds.
    await session.post('Profiler.setSamplingInterval', { interval: 100 });
  }
  await session.post('Profiler.start');
}

export async function stopProfile(file: string): Promise<void> {
  if (session === undefined) throw new Error('stopProfile: no profile running');
  const { profile } = await session.post('Profiler.stop');
  writeFileSync(file, JSON.stringify(profile));
}
