/**
 * A seeded random source (mulberry32): small and fast, and enough for what sibyl draws
 * reproducibly from a seed — fault decisions, gossip peer choices, token placement,
 * simulations — so a failure replays from the seed it prints.
 */
export type Random = () => number;

/** Uniform numbers in [0, 1), the same sequence for the same seed. */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}
