/**
 * The memtable's partition order: cheap to add to, sorted only where and when someone
 * needs the order. Writes far outnumber scans and a flush needs the order once, so a
 * balanced tree (a dozen comparisons and node splits per write) costs more than it
 * gives.
 *
 * Partitions fall into leaves of a radix tree over the top bits of their token, which
 * keeps leaf order equal to token order: 256 slots by the top 8 bits, and a leaf that
 * grows past LEAF_ITEMS_MAX splits into 256 by the next 8 bits (three times at most).
 * Murmur3 tokens spread evenly, so leaves stay small even where a node holds only narrow
 * token ranges (a large cluster), and a small memtable costs one 256-slot array. A write appends to its leaf and marks it unsorted; a scan or
 * a flush sorts a leaf when it reaches it (V8's TimSort takes a sorted array with a few
 * items appended in about linear time). Items are never removed (a memtable only grows).
 */
import { firstIndex } from '../model/search.js';

const SLOTS = 256;
/** A leaf past this many items splits (below the deepest level): re-sorting a leaf that a
 *  write landed in while a scan walks it costs about its size. */
const LEAF_ITEMS_MAX = 1024;
const DEPTH_MAX = 3;

/** The slot at `level` of a token's high half: 8 bits per level from the top, the top
 *  ones with the sign flipped (so negative tokens come first). */
function slotOf(high: number, level: number): number {
  if (level === 0) return (high >>> 24) ^ (SLOTS >>> 1);
  return (high >>> (24 - 8 * level)) & (SLOTS - 1);
}

class Leaf<T> {
  items: T[] = [];
  sorted = true;
  /** Counts the sorts, so a walk knows when the items moved under it. */
  sorts = 0;
}

class Branch<T> {
  readonly children: (Node<T> | undefined)[] = new Array<Node<T> | undefined>(SLOTS).fill(undefined);
}

type Node<T> = Leaf<T> | Branch<T>;

export class MemtableOrder<T> {
  /** Allocated at the first add: an empty memtable costs nothing. */
  private root: (Node<T> | undefined)[] | null = null;
  private count = 0;
  /** Changes when a leaf splits, so a walk knows to find its place again. */
  private layout = 0;

  /** `highOf`: an item's token's high 32 bits, signed. */
  constructor(
    private readonly compare: (a: T, b: T) => number,
    private readonly highOf: (item: T) => number,
  ) {}

  get size(): number {
    return this.count;
  }

  /** Adds an item that is not already present. */
  add(item: T): void {
    this.root ??= new Array<Node<T> | undefined>(SLOTS).fill(undefined);
    let slots = this.root;
    let level = 0;
    for (;;) {
      const slot = slotOf(this.highOf(item), level);
      let node = slots[slot];
      if (node === undefined) {
        node = new Leaf<T>();
        slots[slot] = node;
      }
      if (node instanceof Branch) {
        slots = node.children;
        level++;
        continue;
      }
      this.append(node, item);
      if (node.items.length > LEAF_ITEMS_MAX && level < DEPTH_MAX) slots[slot] = this.split(node, level + 1);
      break;
    }
    this.count++;
  }

  /** Reads the end of the leaf a token's high half falls in (see MemtableIndex.touch). */
  touch(high: number): number {
    let slots = this.root;
    for (let level = 0; slots !== null; level++) {
      const node = slots[slotOf(high, level)];
      if (node === undefined) return 0;
      if (node instanceof Leaf) return node.items.length;
      slots = node.children;
    }
    return 0;
  }

  /**
   * The items from the first for which `atOrAfterStart` holds (a predicate monotonic in
   * the order, true for no item whose token's high half is below `startHigh`), lazily.
   * Items added during the walk that sort after its position are seen: a leaf sorted
   * again under the walk, or split, makes it find its place again from the last item
   * returned.
   */
  *from(startHigh: number, atOrAfterStart: (item: T) => boolean): Generator<T, void, undefined> {
    let last: T | undefined;
    for (;;) {
      const layout = this.layout;
      const after = last;
      const isNext = after === undefined ? atOrAfterStart : (item: T) => this.compare(item, after) > 0;
      for (const leaf of this.leavesFrom(after === undefined ? startHigh : this.highOf(after))) {
        this.sort(leaf);
        const items = leaf.items;
        let sorts = leaf.sorts;
        let position = firstIndex(items, isNext);
        while (position < items.length) {
          const current = items[position];
          last = current;
          yield current;
          if (this.layout !== layout) break;
          this.sort(leaf);
          if (leaf.sorts === sorts) {
            position++;
          } else {
            sorts = leaf.sorts;
            position = firstIndex(items, (item) => this.compare(item, current) > 0);
          }
        }
        if (this.layout !== layout) break;
      }
      if (this.layout === layout) return;
    }
  }

  /** Every item, in order. */
  all(): Generator<T, void, undefined> {
    return this.from(-(2 ** 31), () => true);
  }

  /** The leaves, in order, from the one a token with high half `startHigh` falls in;
   *  looked up as the walk goes, so leaves made meanwhile further on are found. */
  private *leavesFrom(startHigh: number): Generator<Leaf<T>, void, undefined> {
    if (this.root === null) return;
    yield* this.leavesUnder(this.root, 0, startHigh, true);
  }

  private *leavesUnder(slots: (Node<T> | undefined)[], level: number, startHigh: number, onStartPath: boolean): Generator<Leaf<T>> {
    for (let slot = onStartPath ? slotOf(startHigh, level) : 0; slot < slots.length; slot++) {
      const node = slots[slot];
      if (node === undefined) continue;
      const startsHere = onStartPath && slot === slotOf(startHigh, level);
      if (node instanceof Leaf) yield node;
      else yield* this.leavesUnder(node.children, level + 1, startHigh, startsHere);
    }
  }

  private append(leaf: Leaf<T>, item: T): void {
    const items = leaf.items;
    if (leaf.sorted && items.length > 0 && this.compare(items[items.length - 1], item) > 0) leaf.sorted = false;
    items.push(item);
  }

  /** A branch holding a leaf's items by their slot at `level` (each keeps its order). */
  private split(leaf: Leaf<T>, level: number): Branch<T> {
    const branch = new Branch<T>();
    for (const item of leaf.items) {
      const slot = slotOf(this.highOf(item), level);
      let child = branch.children[slot] as Leaf<T> | undefined;
      if (child === undefined) {
        child = new Leaf<T>();
        branch.children[slot] = child;
      }
      this.append(child, item);
    }
    this.layout++;
    return branch;
  }

  private sort(leaf: Leaf<T>): void {
    if (leaf.sorted) return;
    leaf.items.sort(this.compare);
    leaf.sorted = true;
    leaf.sorts++;
  }
}
