/**
 * lua/includes/period.lua gives what src/engine/periods.ts gives: the include
 * runs in the run's private Redis (EVAL) over many instants per zone.
 */
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { decodeZone, periodAt, UTC_ZONE } from '../../src/engine/periods.js';
import { BACKWARD_TEXT, instantsFor, ZONES, zoneText } from '../support/zones.js';

const INCLUDE = readFileSync(new URL('../../lua/includes/period.lua', import.meta.url), 'utf8');
/** ARGV[1] the zone's text, ARGV[2..] instants: each instant's period as 7 integers. */
const SCRIPT = `${INCLUDE}
local text = ARGV[1]
local out = {}
for k = 2, #ARGV do
  local p = periodAt(tonumber(ARGV[k]), text)
  out[#out + 1] = { p.day, p.month, p.dayStartMs, p.nextDayMs, p.monthStartMs, p.nextMonthMs, p.offsetMs }
end
return out
`;

let redis: Redis;
beforeAll(() => {
  redis = new Redis(inject('redisUrl'));
});
afterAll(async () => {
  await redis.quit();
});

async function luaPeriods(text: string, instants: number[]): Promise<number[][]> {
  return (await redis.eval(SCRIPT, 0, text, ...instants.map(String))) as number[][];
}

function tsPeriods(text: string, instants: number[]): number[][] {
  const t = text === '' ? UTC_ZONE : decodeZone(text);
  return instants.map((ms) => {
    const p = periodAt(ms, t);
    return [p.day, p.month, p.dayStartMs, p.nextDayMs, p.monthStartMs, p.nextMonthMs, p.offsetMs];
  });
}

describe('lua/includes/period.lua', () => {
  it.each(ZONES.map((z, i) => [z, i] as const))(
    '%s: the same periods as periods.ts',
    async (zone, i) => {
      const text = zoneText(zone);
      const t = decodeZone(text);
      const instants = instantsFor(t, 2000, 1000 + i);
      expect(instants.length).toBeGreaterThan(3000);
      const lua = await luaPeriods(text, instants);
      const ts = tsPeriods(text, instants);
      for (let k = 0; k < instants.length; k++) {
        expect([instants[k], lua[k]]).toEqual([instants[k], ts[k]]);
      }
    },
  );

  it('an empty text is UTC; a local date that goes back', async () => {
    const utc = instantsFor(UTC_ZONE, 500, 7);
    expect(await luaPeriods('', utc)).toEqual(tsPeriods('', utc));
    const t = decodeZone(BACKWARD_TEXT);
    const around = instantsFor(t, 50, 8);
    for (let ms = Date.UTC(2026, 0, 9, 22); ms <= Date.UTC(2026, 0, 10, 3); ms += 15 * 60_000) {
      around.push(ms - 1, ms);
    }
    expect(await luaPeriods(BACKWARD_TEXT, around)).toEqual(tsPeriods(BACKWARD_TEXT, around));
  });

  it('years far from now (era and leap-year arithmetic)', async () => {
    const far = [
      Date.UTC(1970, 0, 1),
      Date.UTC(1969, 11, 31, 23, 59, 59, 999),
      Date.UTC(2000, 1, 29, 12),
      Date.UTC(2100, 1, 28, 23, 30),
      Date.UTC(2100, 2, 1),
      Date.UTC(2400, 1, 29, 23, 59, 59, 999),
      Date.UTC(275000, 0, 1),
    ];
    const text = zoneText('Pacific/Chatham');
    expect(await luaPeriods(text, far)).toEqual(tsPeriods(text, far));
  });
});
