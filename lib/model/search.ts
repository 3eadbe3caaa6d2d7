/** The first index in [from, items.length) where the monotone `isAtOrAfter` holds
 *  (items.length when it holds nowhere): binary search over sorted rows or keys. */
export function firstIndex<T>(items: readonly T[], isAtOrAfter: (item: T) => boolean, from = 0): number {
  let low = from;
  let high = items.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (isAtOrAfter(items[middle])) high = middle;
    else low = middle + 1;
  }
  return low;
}
