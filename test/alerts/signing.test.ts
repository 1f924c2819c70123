/**
 * The signature of a delivery (src/alerts/sign.ts) and the check that
 * docs/operations.md gives receivers, run as written: they agree, and the
 * check refuses a changed body, another secret, an old timestamp. The
 * in-process queue's semantics (src/alerts/memory-queue.ts): an id added
 * once, exponential retries, a final failure ends the job.
 */
import { describe, expect, it, vi } from 'vitest';
import {
  alertBody,
  DeliveryFailed,
  type DeliveryJob,
  memoryQueue,
  signatureHeader,
  verifySignature,
} from '../../src/alerts/index.js';
import { documentedVerify, sleep, until } from './helpers.js';

const SECRET = 'whsec-0123456789abcdef';
const body = alertBody({
  eventId: '01a21718-f580-71a0-87bf-ff7ab50cc300',
  at: 1_796_601_600_123,
  agentId: 'coder-7',
  alert: {
    pool_id: '',
    budget: 'daily',
    threshold_pct: 80,
    period: '20261207',
    used: 800_000,
    limit: 1_000_000,
  },
});

describe('signing', () => {
  it('signs "<t>.<body>" with HMAC-SHA256: the documented header, checked by the documented snippet', async () => {
    const verify = await documentedVerify();
    const t = Math.floor(Date.now() / 1000);
    const header = signatureHeader(SECRET, body, t);
    expect(header).toMatch(new RegExp(`^t=${t},v1=[0-9a-f]{64}$`));
    expect(verify(Buffer.from(body), header, SECRET)).toBe(true);
    expect(verify(body, header, SECRET)).toBe(true);
    expect(verifySignature(header, body, SECRET)).toBe(true);

    // A byte changed, another secret, another timestamp in the header, a missing part.
    const changed = body.replace('"threshold_pct":80', '"threshold_pct":81');
    const otherT = header.replace(`t=${t}`, `t=${t - 1}`);
    for (const [b, h, s] of [
      [changed, header, SECRET],
      [body, header, `${SECRET}x`],
      [body, otherT, SECRET],
      [body, `t=${t}`, SECRET],
      [body, header.replace(/v1=.*/, 'v1=zz'), SECRET],
      [body, '', SECRET],
    ] as const) {
      expect(verify(b, h, s), `${h}`).toBe(false);
      expect(verifySignature(h, b, s), `${h}`).toBe(false);
    }
  });

  it('refuses a signature older (or newer) than 5 minutes', async () => {
    const verify = await documentedVerify();
    const now = Math.floor(Date.now() / 1000);
    expect(verify(body, signatureHeader(SECRET, body, now - 290), SECRET)).toBe(true);
    expect(verify(body, signatureHeader(SECRET, body, now - 400), SECRET)).toBe(false);
    expect(verify(body, signatureHeader(SECRET, body, now + 400), SECRET)).toBe(false);
    expect(verifySignature(signatureHeader(SECRET, body, now - 400), body, SECRET)).toBe(false);
  });

  it('the body is the event, its fields in a fixed order', () => {
    expect(JSON.parse(body)).toEqual({
      v: 1,
      event_id: '01a21718-f580-71a0-87bf-ff7ab50cc300',
      type: 'budget_alert',
      at: 1_796_601_600_123,
      agent_id: 'coder-7',
      pool_id: '',
      budget: 'daily',
      threshold_pct: 80,
      period: '20261207',
      used: 800_000,
      limit: 1_000_000,
    });
    expect(Object.keys(JSON.parse(body))[0]).toBe('v');
  });
});

describe('the in-process delivery queue', () => {
  const job = (n: number): DeliveryJob => ({
    eventId: `01a21718-f580-71a0-87bf-ff7ab50cc30${n}`,
    webhookId: 'wh_000000000000000000000001',
    run: 1,
  });
  const settings = { concurrency: 2, keepFinishedMs: 60_000, log: () => undefined };

  it('adds an id once while it knows it: waiting, retrying, finished', async () => {
    const runs: number[] = [];
    const q = memoryQueue(
      async (_j, made) => {
        runs.push(made);
        if (made < 2) throw new Error('receiver down');
      },
      { ...settings, attempts: 5, backoffMs: 20 },
    );
    await q.add([job(1), job(1)]);
    await q.add([job(1)]);
    await until('three attempts', () => runs.length === 3);
    await q.add([job(1)]); // finished: still known
    await sleep(150);
    expect(runs).toEqual([0, 1, 2]);
    await q.close();
  });

  it('retries after backoffMs, 2×, 4× … (fake clock) up to `attempts`; a final failure ends the job at once', async () => {
    vi.useFakeTimers();
    try {
      let n = 0;
      const q = memoryQueue(
        async () => {
          n++;
          throw new Error('503');
        },
        { ...settings, attempts: 4, backoffMs: 40 },
      );
      await q.add([job(2)]);
      await vi.advanceTimersByTimeAsync(0);
      expect(n).toBe(1);
      // The waits: 40, 80, 160 ms; then no attempt is left.
      for (const wait of [40, 80, 160]) {
        await vi.advanceTimersByTimeAsync(wait - 1);
        const before = n;
        await vi.advanceTimersByTimeAsync(1);
        expect(n, `after a wait of ${wait} ms`).toBe(before + 1);
      }
      await vi.advanceTimersByTimeAsync(10_000);
      expect(n).toBe(4);

      let m = 0;
      const q2 = memoryQueue(
        async () => {
          m++;
          throw new DeliveryFailed('dead', true);
        },
        { ...settings, attempts: 4, backoffMs: 10 },
      );
      await q2.add([job(3)]);
      await vi.advanceTimersByTimeAsync(10_000);
      expect(m).toBe(1);
      await q.close();
      await q2.close();
    } finally {
      vi.useRealTimers();
    }
  });
});
