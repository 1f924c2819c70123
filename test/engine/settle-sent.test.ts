/**
 * SettleInput.onSending (src/engine/usage-types.ts): a metered model call
 * hands its answer to its caller just before its settle is written to the
 * engine's connection, in the same run of JavaScript, before the store's reply
 * (src/meter/call.ts). What it promises: whatever is started from it (as the
 * meter does, by a promise it resolves) goes out after the settle and sees it;
 * and it is not called when the engine waits for replicas, nor by
 * MemoryEngine, whose callers then wait for the settle itself.
 */
import { Redis } from 'ioredis';
import { expect, inject, it } from 'vitest';
import { RedisEngine } from '../../src/engine/redis/index.js';
import type { Engine } from '../../src/engine/types.js';
import { describeWithEngine } from '../support/engines.js';
import { hold, registerIn } from '../support/pools.js';

describeWithEngine((ut, kind) => {
  it('a read started from onSending sees the settle, also when it waited behind batches in flight', async () => {
    const a = await registerIn(ut().engine, undefined);
    const nextTick = () => new Promise<void>((r) => process.nextTick(r));
    for (let n = 0; n < 10; n++) {
      const holds: string[] = [];
      for (let k = 0; k < 3; k++) {
        const h = await hold(ut().engine, a, 1_000);
        if (!h.allowed) throw new Error('denied');
        holds.push(h.reservationId);
      }
      const settle = (reservationId: string, onSending?: () => void) =>
        ut().engine.settle({
          reservationId,
          inputTokens: 300,
          outputTokens: 100,
          result: 'success',
          actor: 'library',
          onSending,
        });
      // Two settles in flight on the agent's shard (the engine sends at most two
      // batches of a shard at a time), each in a tick of its own: the third waits.
      const before = [settle(holds[1] as string)];
      await nextTick();
      before.push(settle(holds[2] as string));
      await nextTick();
      let read: ReturnType<Engine['status']> | undefined;
      let settledFirst = false;
      // As the meter does: the hook resolves a promise, and the caller goes on from it.
      let told = (): void => {};
      void new Promise<void>((resolve) => {
        told = resolve;
      }).then(() => {
        read = ut().engine.status(a);
      });
      const settled = settle(holds[0] as string, () => told()).then((r) => {
        settledFirst = read === undefined;
        return r;
      });
      expect((await settled).outcome).toBe('settled');
      await Promise.all(before);
      if (kind === 'memory') {
        // Done when its promise resolves: nothing to tell.
        expect(read).toBeUndefined();
        continue;
      }
      // Told before the reply, and the read sent then sees the settle.
      expect(settledFirst).toBe(false);
      expect(await read).toMatchObject({
        sessionTokensUsed: 1_200 * (n + 1),
        sessionTokensReserved: 0,
        dailyReservedMicros: 0,
      });
    }
  });

  it.runIf(kind === 'redis')('not called when the engine waits for replicas', async () => {
    const waiting = new RedisEngine({
      client: new Redis(inject('redisUrl')),
      ownsClient: true,
      waitReplicas: 1,
      waitTimeoutMs: 20,
      failoverRetryMs: 0,
    });
    try {
      const a = await registerIn(ut().engine, undefined);
      const h = await hold(ut().engine, a, 1_000);
      if (!h.allowed) throw new Error('denied');
      let told = false;
      // No replica here: WAIT sees none, the settle answers STORE_UNAVAILABLE (written on the master).
      await waiting
        .settle({
          reservationId: h.reservationId,
          inputTokens: 300,
          outputTokens: 100,
          result: 'success',
          actor: 'library',
          onSending: () => {
            told = true;
          },
        })
        .catch(() => undefined);
      expect(told).toBe(false);
    } finally {
      await waiting.close();
    }
  });
});
