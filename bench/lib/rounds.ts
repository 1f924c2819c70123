/**
 * Ours and the peer in turn, `n` rounds in one run: the machine drifts
 * between runs and within one, so a comparison is made round by round and
 * the median round is the figure (docs/BENCHMARKS.md, "How to read it").
 */
import { type Floor, times } from './harness.js';
import { median } from './stats.js';

export interface Round<M> {
  ours: M;
  peer: M;
  /** ours ÷ peer by `rate`. */
  ratio: number;
}

export interface Rounds<M> {
  rounds: Round<M>[];
  /** The median of the rounds' ratios. */
  ratio: number;
  /** The median measurement of each side (by `rate`). */
  ours: M;
  peer: M;
}

export interface AlternateOptions<M> {
  /** What is compared: ops/s, say. */
  rate: (m: M) => number;
  /** Peer first in every other round (ABBA), for sides that affect each other. */
  swap?: boolean;
  onRound?: (round: Round<M>, index: number) => void;
}

/** The measurement whose `value` is the median (the lower middle one for an even count). */
export function medianBy<M>(list: readonly M[], value: (m: M) => number): M {
  const sorted = [...list].sort((a, b) => value(a) - value(b));
  const m = sorted[Math.floor((sorted.length - 1) / 2)];
  if (m === undefined) throw new Error('medianBy of an empty list');
  return m;
}

export async function alternate<M>(
  n: number,
  ours: () => Promise<M>,
  peer: () => Promise<M>,
  o: AlternateOptions<M>,
): Promise<Rounds<M>> {
  const rounds: Round<M>[] = [];
  for (let i = 0; i < n; i++) {
    let a: M;
    let b: M;
    if (o.swap && i % 2 === 1) {
      b = await peer();
      a = await ours();
    } else {
      a = await ours();
      b = await peer();
    }
    const round = { ours: a, peer: b, ratio: o.rate(a) / o.rate(b) };
    o.onRound?.(round, i);
    rounds.push(round);
  }
  return {
    rounds,
    ratio: median(rounds.map((r) => r.ratio)),
    ours: medianBy(
      rounds.map((r) => r.ours),
      o.rate,
    ),
    peer: medianBy(
      rounds.map((r) => r.peer),
      o.rate,
    ),
  };
}

/** `<what>, median of 3 rounds: 0.63× (rounds: 0.63×, 0.60×, 0.63×); floor ≥ 0.6×`. */
export function roundsFloor<M>(what: string, r: Rounds<M>, min: number): Floor {
  return {
    text:
      `${what}, median of ${r.rounds.length} rounds: ${times(r.ratio)} ` +
      `(rounds: ${r.rounds.map((x) => times(x.ratio)).join(', ')}); floor ≥ ${min}×`,
    pass: r.ratio >= min,
  };
}
