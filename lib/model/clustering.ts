/**
 * Clustering keys, bounds and slices, and the comparator built once per table from
 * its clustering column types and orders.
 */

/** Compares two serialized values of one CQL type (in the type's natural order). */
export type ValueComparator = (a: Buffer, b: Buffer) => number;

/**
 * One end of a clustering range. `prefix` may be shorter than the clustering key; an
 * empty prefix is unbounded (the very start for a start bound, the very end for an end
 * bound). `inclusive` says whether clusterings that begin with `prefix` are inside.
 */
export interface ClusteringBound {
  prefix: Buffer[];
  inclusive: boolean;
}

/** The clusterings between `start` and `end` in table order. */
export interface Slice {
  start: ClusteringBound;
  end: ClusteringBound;
}

export const UNBOUNDED_START: ClusteringBound = Object.freeze({ prefix: [], inclusive: true }) as ClusteringBound;
export const UNBOUNDED_END: ClusteringBound = Object.freeze({ prefix: [], inclusive: true }) as ClusteringBound;
export const ALL_ROWS: Slice = Object.freeze({ start: UNBOUNDED_START, end: UNBOUNDED_END }) as Slice;

/**
 * Orders clusterings of one table. Built once per table schema (not per request):
 * one comparator per clustering column, negated for DESC columns.
 */
export class ClusteringComparator {
  constructor(private readonly columns: readonly ValueComparator[]) {}

  get size(): number {
    return this.columns.length;
  }

  /** Compares full clusterings (or prefixes of equal length). */
  compare(a: readonly Buffer[], b: readonly Buffer[]): number {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) {
      const c = this.columns[i](a[i], b[i]);
      if (c !== 0) return c;
    }
    return a.length - b.length;
  }

  /** Compares the first min(len) components only: 0 when one is a prefix of the other. */
  comparePrefix(clustering: readonly Buffer[], prefix: readonly Buffer[]): number {
    const n = Math.min(clustering.length, prefix.length);
    for (let i = 0; i < n; i++) {
      const c = this.columns[i](clustering[i], prefix[i]);
      if (c !== 0) return c;
    }
    return 0;
  }

  /** True when `clustering` is at or after the start bound. */
  afterStart(clustering: readonly Buffer[], start: ClusteringBound): boolean {
    if (start.prefix.length === 0) return true;
    const c = this.comparePrefix(clustering, start.prefix);
    return c > 0 || (c === 0 && start.inclusive);
  }

  /** True when `clustering` is at or before the end bound. */
  beforeEnd(clustering: readonly Buffer[], end: ClusteringBound): boolean {
    if (end.prefix.length === 0) return true;
    const c = this.comparePrefix(clustering, end.prefix);
    return c < 0 || (c === 0 && end.inclusive);
  }

  inSlice(clustering: readonly Buffer[], slice: Slice): boolean {
    return this.afterStart(clustering, slice.start) && this.beforeEnd(clustering, slice.end);
  }

  /**
   * Orders two start bounds: negative when `a` starts before `b`. Exclusive bounds
   * start after inclusive ones with the same prefix; a shorter inclusive prefix starts
   * before a longer one that extends it.
   */
  compareStarts(a: ClusteringBound, b: ClusteringBound): number {
    return this.compareBounds(a, b, true);
  }

  /** Orders two end bounds: negative when `a` ends before `b`. */
  compareEnds(a: ClusteringBound, b: ClusteringBound): number {
    return this.compareBounds(a, b, false);
  }

  private compareBounds(a: ClusteringBound, b: ClusteringBound, isStart: boolean): number {
    // Position each bound on a line: an inclusive start sits just before its prefix's
    // clusterings, an exclusive start just after them; ends mirror that. An empty
    // prefix is -infinity for starts and +infinity for ends.
    const infinity = isStart ? -1 : 1;
    if (a.prefix.length === 0 || b.prefix.length === 0) {
      if (a.prefix.length === 0 && b.prefix.length === 0) return 0;
      return a.prefix.length === 0 ? infinity : -infinity;
    }
    const c = this.comparePrefix(a.prefix, b.prefix);
    if (c !== 0) return c;
    const weight = (bound: ClusteringBound, other: ClusteringBound): number => {
      // Before (-1) or after (+1) the clusterings that start with the bound's prefix.
      const side = isStart ? (bound.inclusive ? -1 : 1) : bound.inclusive ? 1 : -1;
      // A longer prefix is nested inside the shorter prefix's block of clusterings.
      return bound.prefix.length < other.prefix.length ? side * 2 : side;
    };
    return weight(a, b) - weight(b, a);
  }
}
