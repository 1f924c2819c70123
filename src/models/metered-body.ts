/**
 * A streamed response body passed through a StreamMeter: read only as the
 * caller reads (no read-ahead, no buffering), so the caller sees each chunk when
 * it would have, and the meter sees the usage when the caller reaches it. A
 * caller that cancels, or an upstream that fails, ends the meter (usage not
 * seen by then: undefined). With `until`, the stream ends (closes, fails, or
 * finishes its cancel) for the caller only once `until` has resolved: the
 * metered call's settle (src/meter/call.ts), in the same stream rather than a
 * second one around it (a stream layer costs a pull and its promises per chunk).
 */
import type { StreamMeter } from './stream-meter.js';

export function meteredBody(
  upstream: ReadableStream<Uint8Array>,
  meter: StreamMeter,
  until?: Promise<unknown>,
): ReadableStream<Uint8Array> {
  const reader = upstream.getReader();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          for (;;) {
            const { done, value } = await reader.read();
            if (done) {
              const rest = meter.end();
              if (rest.length > 0) controller.enqueue(rest);
              await until;
              controller.close();
              return;
            }
            const out = meter.push(value);
            if (out.length > 0) {
              controller.enqueue(out);
              return;
            }
          }
        } catch (e) {
          meter.end();
          await until;
          controller.error(e);
        }
      },
      async cancel(reason) {
        meter.end();
        await reader.cancel(reason);
        await until;
      },
    },
    { highWaterMark: 0 },
  );
}
