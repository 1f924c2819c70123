/**
 * A metered model call's settle, on every engine (memory, Redis, Cluster):
 * trusted code may say the usage is an estimate (`estimated`) and which
 * model's price it used (`pricedAs`), both carried by the settle event and
 * neither part of a repeat's match; and a settle that names a model must name
 * its hold's, else VALIDATION_FAILED with nothing written
 * (docs/engine.md#priced-holds-and-settles).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseOutboxFields } from '../../src/audit/event.js';
import { agentKeys } from '../../src/engine/keys.js';
import { compileProfile } from '../../src/engine/profile.js';
import type { SettleInput } from '../../src/engine/types.js';
import { createTollgate, type Tollgate } from '../../src/index.js';
import { ENGINE_KINDS, type EngineUnderTest, makeEngine, uid } from '../support/engines.js';
import { agentDump, engineAgentEvents, statusWithoutNow } from '../support/exactly-once.js';

const MODEL = 'gpt-4o';
const PROFILE = compileProfile({
  operation: 'model_call_test',
  rates: { model: MODEL, inputMicrosPerMillion: 2_500_000, outputMicrosPerMillion: 10_000_000 },
  leaseMs: 300_000,
  allowedRoles: ['coder'],
});

describe.each(ENGINE_KINDS)('%s engine', (kind) => {
  let ut: EngineUnderTest;
  let tg: Tollgate;

  beforeAll(async () => {
    ut = await makeEngine(kind);
    tg = await createTollgate({ engine: ut.engine });
  });
  afterAll(async () => {
    await ut.close();
  });

  async function register(): Promise<string> {
    const id = uid('ms');
    await tg.identity.registerAgent(id, 'coder', {}, { dailyCostLimit: 10 });
    return id;
  }

  async function hold(id: string): Promise<string> {
    const r = await ut.engine.authorize({
      agentId: id,
      profile: PROFILE,
      estimatedTokens: 1000,
      actor: 'library',
    });
    if (!r.allowed) throw new Error(`not allowed: ${r.code}`);
    return r.reservationId;
  }

  function settle(i: Partial<SettleInput> & { reservationId?: string }) {
    return ut.engine.settle({
      inputTokens: 100,
      outputTokens: 50,
      result: 'success',
      actor: 'library',
      ...i,
    });
  }

  const settleEvents = async (id: string) =>
    (await engineAgentEvents(ut, id)).filter((e) => e.type === 'settle');

  /** What a refused settle must leave as it was: the status, the events and (Redis) every key. */
  async function everything(id: string) {
    return {
      status: await statusWithoutNow(ut, id),
      events: await engineAgentEvents(ut, id),
      keys: ut.raw === undefined ? null : await agentDump(ut.raw, id),
    };
  }

  describe('estimated and priced_as', () => {
    it('the settle event carries them; without them: estimated 0, priced_as empty', async () => {
      const id = await register();
      const a = await hold(id);
      const b = await hold(id);
      await settle({ reservationId: a, estimated: true, pricedAs: 'gpt-4o-mini', model: MODEL });
      await settle({ reservationId: b });
      const [ea, eb] = await settleEvents(id);
      expect(ea).toMatchObject({ model: MODEL, estimated: '1', priced_as: 'gpt-4o-mini' });
      expect(eb).toMatchObject({ model: MODEL, estimated: '0', priced_as: '' });
      // Parsed: true and the name; false and null.
      expect(parseOutboxFields(ea as Record<string, string>)).toMatchObject({
        estimated: true,
        priced_as: 'gpt-4o-mini',
      });
      expect(parseOutboxFields(eb as Record<string, string>)).toMatchObject({
        estimated: false,
        priced_as: null,
      });
    });

    it('settle by operation carries them too', async () => {
      const id = await register();
      await hold(id);
      const r = await settle({
        agentId: id,
        operation: PROFILE.operation,
        usageId: `u-${id}`,
        estimated: true,
        pricedAs: 'default',
        model: MODEL,
      });
      expect(r.outcome).toBe('settled');
      expect(await settleEvents(id)).toEqual([
        expect.objectContaining({ estimated: '1', priced_as: 'default', model: MODEL }),
      ]);
    });

    it('are not part of a repeat’s match: the same usage sent again answers the recorded one', async () => {
      const id = await register();
      const res = await hold(id);
      const first = await settle({ reservationId: res, estimated: true, pricedAs: 'gpt-4o-mini' });
      const again = await settle({ reservationId: res, pricedAs: 'other-model' });
      expect(first.outcome).toBe('settled');
      expect(again).toMatchObject({ outcome: 'already_closed', costMicros: first.costMicros });
      // Nothing new: one settle event, as the first settle wrote it.
      expect(await settleEvents(id)).toEqual([
        expect.objectContaining({ estimated: '1', priced_as: 'gpt-4o-mini' }),
      ]);
    });

    it('are checked before any state is touched', async () => {
      const id = await register();
      const res = await hold(id);
      await expect(
        settle({ reservationId: res, pricedAs: 'no spaces allowed' }),
      ).rejects.toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'priced_as' } });
      await expect(
        settle({ reservationId: res, estimated: 'yes' as unknown as boolean }),
      ).rejects.toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'estimated' } });
      await expect(settle({ reservationId: res, model: 'a\u001fb' })).rejects.toMatchObject({
        code: 'VALIDATION_FAILED',
        details: { field: 'model' },
      });
      expect(await settleEvents(id)).toEqual([]);
    });
  });

  describe('a model other than the hold’s', () => {
    it('by reservation: VALIDATION_FAILED naming the hold’s model, nothing written; the right model then settles', async () => {
      const id = await register();
      const res = await hold(id);
      const before = await everything(id);
      await expect(settle({ reservationId: res, model: 'gpt-4o-mini' })).rejects.toMatchObject({
        code: 'VALIDATION_FAILED',
        details: { field: 'model', hold_model: MODEL },
      });
      expect(await everything(id)).toEqual(before);
      const ok = await settle({ reservationId: res, model: MODEL });
      expect(ok.outcome).toBe('settled');
      // The hold's price: 100 in at $2.50, 50 out at $10 per million, rounded up.
      expect(ok.costMicros).toBe(750);
    });

    it('a settled hold sent again with another model: refused too, nothing written', async () => {
      const id = await register();
      const res = await hold(id);
      await settle({ reservationId: res, model: MODEL });
      const before = await everything(id);
      await expect(settle({ reservationId: res, model: 'cheap-model' })).rejects.toMatchObject({
        code: 'VALIDATION_FAILED',
        details: { field: 'model', hold_model: MODEL },
      });
      expect(await everything(id)).toEqual(before);
      // The same settle with the hold's model (or none) is the replay it always was.
      expect((await settle({ reservationId: res, model: MODEL })).outcome).toBe('already_closed');
      expect((await settle({ reservationId: res })).outcome).toBe('already_closed');
    });

    it('by operation: refused, the hold stays open', async () => {
      const id = await register();
      await hold(id);
      const before = await everything(id);
      await expect(
        settle({ agentId: id, operation: PROFILE.operation, model: 'cheap-model' }),
      ).rejects.toMatchObject({
        code: 'VALIDATION_FAILED',
        details: { field: 'model', hold_model: MODEL },
      });
      expect(await everything(id)).toEqual(before);
      expect(before.status.sessionTokensReserved).toBe(1000);
    });

    it('in one batch with other settles of the shard: only that settle is refused', async () => {
      const id = await register();
      const holds = [await hold(id), await hold(id), await hold(id)];
      const answers = await Promise.allSettled([
        settle({ reservationId: holds[0], model: MODEL }),
        settle({ reservationId: holds[1], model: 'cheap-model' }),
        settle({ reservationId: holds[2] }),
      ]);
      expect(answers.map((a) => a.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect(await statusWithoutNow(ut, id)).toMatchObject({ sessionTokensReserved: 1000 });
      expect((await settleEvents(id)).map((e) => e.reservation_id)).toEqual([holds[0], holds[2]]);
      if (ut.raw !== undefined) {
        // The refused hold is still open (its record starts with \3).
        const agent = (await agentDump(ut.raw, id))[agentKeys(id, 16).agent] as Record<
          string,
          string
        >;
        const nonce = (holds[1] as string).split('.')[1];
        expect(agent[`h:${nonce}`]?.charCodeAt(0)).toBe(3);
      }
    });
  });
});
