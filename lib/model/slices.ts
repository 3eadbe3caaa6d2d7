/**
 * Clustering slice arithmetic (WHERE clauses, paging, storage reads): turning equality prefixes and
 * (possibly multi-column) bounds into sorted, non-overlapping slices in table order.
 *
 * A bound is treated as a position on the line of clusterings: "before" or "after"
 * the block of clusterings starting with its prefix. An inclusive start sits before
 * its block, an exclusive start after it; an inclusive end after, an exclusive end
 * before. An empty prefix's block is every clustering, so an unbounded start is
 * "before everything" and an unbounded end "after everything".
 * Slice lists are sorted, non-overlapping and without empty slices once normalized;
 * storage also reads lists that are only sorted (a replica is sent what it is sent).
 */
import type { ClusteringBound, ClusteringComparator, Slice } from './clustering.js';

type Side = -1 | 1;

// An empty prefix is unbounded whatever its inclusive flag (as ClusteringComparator
// reads it): a start before everything, an end after everything.
function startSide(bound: ClusteringBound): Side {
  return bound.inclusive || bound.prefix.length === 0 ? -1 : 1;
}

function endSide(bound: ClusteringBound): Side {
  return bound.inclusive || bound.prefix.length === 0 ? 1 : -1;
}

function comparePositions(cmp: ClusteringComparator, a: Buffer[], aSide: Side, b: Buffer[], bSide: Side): number {
  const c = cmp.comparePrefix(a, b);
  if (c !== 0) return c;
  if (a.length === b.length) return aSide - bSide;
  // The shorter prefix's block contains the longer one's.
  return a.length < b.length ? aSide : -bSide;
}

/** True when some clustering lies between the start bound `start` and the end bound `end`. */
export function isNonEmptyRange(cmp: ClusteringComparator, start: ClusteringBound, end: ClusteringBound): boolean {
  return comparePositions(cmp, start.prefix, startSide(start), end.prefix, endSide(end)) < 0;
}

export function isEmptySlice(cmp: ClusteringComparator, slice: Slice): boolean {
  return !isNonEmptyRange(cmp, slice.start, slice.end);
}

function laterStart(cmp: ClusteringComparator, a: ClusteringBound, b: ClusteringBound): ClusteringBound {
  return comparePositions(cmp, a.prefix, startSide(a), b.prefix, startSide(b)) >= 0 ? a : b;
}

function earlierEnd(cmp: ClusteringComparator, a: ClusteringBound, b: ClusteringBound): ClusteringBound {
  return comparePositions(cmp, a.prefix, endSide(a), b.prefix, endSide(b)) <= 0 ? a : b;
}

function compareSliceStarts(cmp: ClusteringComparator, a: Slice, b: Slice): number {
  return comparePositions(cmp, a.start.prefix, startSide(a.start), b.start.prefix, startSide(b.start));
}

/** Sorts slices, drops empty ones and merges overlapping or touching ones. */
export function normalizeSlices(cmp: ClusteringComparator, slices: Slice[]): Slice[] {
  const live = slices.filter((s) => !isEmptySlice(cmp, s)).sort((a, b) => compareSliceStarts(cmp, a, b));
  const out: Slice[] = [];
  for (const slice of live) {
    const last = out[out.length - 1];
    if (
      last !== undefined &&
      comparePositions(cmp, slice.start.prefix, startSide(slice.start), last.end.prefix, endSide(last.end)) <= 0
    ) {
      const end = earlierEnd(cmp, last.end, slice.end) === last.end ? slice.end : last.end;
      out[out.length - 1] = { start: last.start, end };
    } else {
      out.push(slice);
    }
  }
  return out;
}

/** Every clustering in both slice sets. */
export function intersectSlices(cmp: ClusteringComparator, a: Slice[], b: Slice[]): Slice[] {
  const out: Slice[] = [];
  for (const x of a) {
    for (const y of b) {
      out.push({ start: laterStart(cmp, x.start, y.start), end: earlierEnd(cmp, x.end, y.end) });
    }
  }
  return normalizeSlices(cmp, out);
}

/**
 * The part of `slices` strictly after `clustering` in read order (before it when
 * `reversed`): how a paged or chunked read resumes.
 */
export function slicesAfter(cmp: ClusteringComparator, slices: readonly Slice[], clustering: Buffer[], reversed: boolean): Slice[] {
  const cut: Slice = reversed
    ? { start: { prefix: [], inclusive: true }, end: { prefix: clustering, inclusive: false } }
    : { start: { prefix: clustering, inclusive: false }, end: { prefix: [], inclusive: true } };
  return intersectSlices(cmp, [...slices], [cut]);
}

/** All clusterings starting with `prefix`. */
export function prefixSlice(prefix: Buffer[]): Slice {
  return { start: { prefix, inclusive: true }, end: { prefix, inclusive: true } };
}
