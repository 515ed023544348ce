/**
 * The ttl index: a 4-ary min-heap of (expiry time, key). Entries are never updated in place; a key whose
 * ttl changes gets a new heap item and the old one is recognised as stale when it surfaces (its time no
 * longer matches the key's). The heap is rebuilt when stale items outnumber live ones, so keys that are
 * touched repeatedly (sessions, rate-limit windows) cannot grow it without bound.
 *
 * The times live in Float64Arrays beside plain arrays of keys, rather than in one object per item: a sift
 * through a million items then reads doubles instead of chasing a pointer to an object and another to its
 * boxed number at every level (measured with 1 M items: 0.8 µs per pop instead of 3.3 µs), which is what
 * lets the owner expire hundreds of thousands of keys a second in short slices, with two million fewer
 * objects for the garbage collector to trace.
 *
 * Each item has four children, stored next to each other: a heap of a million items is 10 levels deep
 * instead of 20, and the four times a level compares share a cache line, which is what a pop at that size
 * pays for (cache misses, not comparisons).
 *
 * Both are kept in pages of {@link PAGE} items, so the heap never copies more than one page to grow or
 * shrink: one array of a million items had to be copied whole when it grew past its capacity (38 ms for
 * the times, 84 ms for the keys, measured at ~870,000 items) and when it shrank.
 */
export interface ExpiryItem {
  at: number;
  key: string;
}

const PAGE_BITS = 15;
/** Items per page (the first page grows to this size by doubling, from 64). */
export const PAGE = 1 << PAGE_BITS;
const MASK = PAGE - 1;

/** 4-ary min-heap ordered by `at` (ms on the engine's clock). */
export class ExpiryHeap {
  private times: Float64Array[] = [new Float64Array(64)];
  private keys: string[][] = [[]];
  private n = 0;

  get length(): number {
    return this.n;
  }

  private timeAt(i: number): number {
    return this.times[i >>> PAGE_BITS]![i & MASK]!;
  }

  private put(i: number, at: number, key: string): void {
    this.times[i >>> PAGE_BITS]![i & MASK] = at;
    this.keys[i >>> PAGE_BITS]![i & MASK] = key;
  }

  /** Moves item `from` to slot `to`. */
  private move(from: number, to: number): void {
    this.put(to, this.timeAt(from), this.keys[from >>> PAGE_BITS]![from & MASK]!);
  }

  /** Adds an item; O(log n). */
  push(at: number, key: string): void {
    const i0 = this.n;
    const page = i0 >>> PAGE_BITS;
    if (page === this.times.length) {
      this.times.push(new Float64Array(PAGE));
      this.keys.push([]);
    } else if (page === 0 && i0 === this.times[0]!.length) {
      const bigger = new Float64Array(i0 * 2);
      bigger.set(this.times[0]!);
      this.times[0] = bigger;
    }
    this.n++;
    let i = i0;
    while (i > 0) {
      const parent = (i - 1) >> 2;
      if (this.timeAt(parent) <= at) break;
      this.move(parent, i);
      i = parent;
    }
    this.put(i, at, key);
  }

  /** The earliest item, without removing it. */
  peek(): ExpiryItem | undefined {
    return this.n === 0 ? undefined : { at: this.times[0]![0]!, key: this.keys[0]![0]! };
  }

  /**
   * The earliest time, or +Infinity when empty: what the sweep and every write with a ttl ask, without
   * allocating an item (hundreds of thousands of times a second at scale).
   */
  topAt(): number {
    return this.n === 0 ? Number.POSITIVE_INFINITY : this.times[0]![0]!;
  }

  /** The key of the earliest item; call only when {@link length} > 0. */
  topKey(): string {
    return this.keys[0]![0]!;
  }

  /**
   * Calls `fn` for every item due at `now` (time <= now), without removing any: the due items form a
   * subtree at the root, so this visits them and their direct children only, O(due), however large the heap.
   */
  forEachDue(now: number, fn: (at: number, key: string) => void): void {
    if (this.n === 0 || this.topAt() > now) return;
    const stack = [0];
    while (stack.length > 0) {
      const i = stack.pop()!;
      fn(this.timeAt(i), this.keys[i >>> PAGE_BITS]![i & MASK]!);
      const last = Math.min(4 * i + 5, this.n);
      for (let c = 4 * i + 1; c < last; c++) if (this.timeAt(c) <= now) stack.push(c);
    }
  }

  /** Removes the earliest item; O(log n). */
  pop(): void {
    if (this.n === 0) return;
    const n = --this.n;
    const at = this.timeAt(n);
    const key = this.keys[n >>> PAGE_BITS]![n & MASK]!;
    // Drop the reference, so a popped key can be collected.
    this.keys[n >>> PAGE_BITS]![n & MASK] = '';
    if (n > 0) this.siftDown(0, at, key);
    // Give memory back a page at a time, keeping one spare page so a heap hovering at a page boundary
    // does not allocate and free a page on every push and pop.
    const pages = this.times.length;
    if (pages > 2 && n < (pages - 2) * PAGE) {
      this.times.pop();
      this.keys.pop();
    }
  }

  /** Places (at, key) at hole `i` or below it. */
  private siftDown(i: number, at: number, key: string): void {
    const n = this.n;
    for (;;) {
      const first = 4 * i + 1;
      if (first >= n) break;
      // The smallest of the (up to) four children.
      let m = first;
      let tm = this.timeAt(first);
      const last = Math.min(first + 4, n);
      for (let c = first + 1; c < last; c++) {
        const tc = this.timeAt(c);
        if (tc < tm) {
          m = c;
          tm = tc;
        }
      }
      if (tm >= at) break;
      this.move(m, i);
      i = m;
    }
    this.put(i, at, key);
  }

  /** Replaces the content with `live` items (used to drop stale ones); O(n). */
  rebuild(live: ExpiryItem[]): void {
    this.clear();
    const pages = Math.max(1, Math.ceil(live.length / PAGE));
    if (live.length > 64) this.times[0] = new Float64Array(Math.min(PAGE, 2 ** Math.ceil(Math.log2(live.length))));
    for (let p = 1; p < pages; p++) {
      this.times.push(new Float64Array(PAGE));
      this.keys.push([]);
    }
    this.n = live.length;
    for (let i = 0; i < live.length; i++) this.put(i, live[i]!.at, live[i]!.key);
    // Floyd's heap construction: sift down every parent, from the last one up.
    for (let i = (this.n - 2) >> 2; i >= 0; i--)
      this.siftDown(i, this.timeAt(i), this.keys[i >>> PAGE_BITS]![i & MASK]!);
  }

  clear(): void {
    this.times = [new Float64Array(64)];
    this.keys = [[]];
    this.n = 0;
  }
}
