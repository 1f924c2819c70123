import { describe, expect, it } from 'vitest';
import { ResIndex } from '../../src/engine/memory/res-index.js';
import type { Reservation } from '../../src/engine/memory/state.js';

const res = (nonce: string) => ({ nonce }) as Reservation;

describe('ResIndex', () => {
  it('is a Map by nonce, also for nonces that share their sequence digits', () => {
    const idx = new ResIndex();
    const model = new Map<string, Reservation>();
    const nonces = [
      '000001aaaaaaaaaa',
      '000001bbbbbbbbbb',
      '000001cccccccccc',
      'ffffff0000000000',
      'ffffff0000000001',
      '0a0b0c0d0e0f0000',
    ];
    let k = 0;
    for (let round = 0; round < 400; round++) {
      const nonce = nonces[(round * 7 + k++) % nonces.length] as string;
      const op = (round * 13) % 5;
      if (op < 3) {
        const r = res(nonce);
        idx.set(r);
        model.set(nonce, r);
      } else {
        expect(idx.delete(nonce)).toBe(model.delete(nonce));
      }
      expect(idx.size).toBe(model.size);
      for (const n of nonces) expect(idx.get(n)).toBe(model.get(n));
    }
  });

  it('replaces the record of a nonce set twice', () => {
    const idx = new ResIndex();
    const a = res('123456abcdefabcd');
    const b = res('123456abcdefabcd');
    const c = res('1234560000000000');
    idx.set(a);
    idx.set(c);
    idx.set(b);
    expect(idx.size).toBe(2);
    expect(idx.get('123456abcdefabcd')).toBe(b);
    expect(idx.delete('123456abcdefabcd')).toBe(true);
    expect(idx.delete('123456abcdefabcd')).toBe(false);
    expect(idx.get('1234560000000000')).toBe(c);
    expect(idx.get('1234560000000001')).toBeUndefined();
    expect(idx.size).toBe(1);
  });
});
