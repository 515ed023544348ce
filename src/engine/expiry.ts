/**
 * The ttl index: a binary min-heap of (expiry time, key). Entries are never updated in place; a key whose
 * ttl changes gets a new heap item and the old one is recognised as stale when it surfaces (its time no
 * longer matches the key's). The heap is rebuilt when stale items outnumber live ones, so keys that are
 * touched repeatedly (sessions, rate-limit windows) cannot grow it without bound.
 */
export interface ExpiryItem {
  at: number;
  key: string;
}

/** Min-heap ordered by `at` (ms on the engine's clock). */
export class ExpiryHeap {
  private items: ExpiryItem[] = [];

  get length(): number {
    return this.items.length;
  }

  /** Adds an item; O(log n). */
  push(at: number, key: string): void {
    const items = this.items;
    items.push({ at, key });
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = items[parent]!;
      const c = items[i]!;
      if (p.at <= c.at) break;
      items[parent] = c;
      items[i] = p;
      i = parent;
    }
  }

  /** The earliest item, without removing it. */
  peek(): ExpiryItem | undefined {
    return this.items[0];
  }

  /** Removes and returns the earliest item; O(log n). */
  pop(): ExpiryItem | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (top === undefined || last === undefined || items.length === 0) return top;
    items[0] = last;
    let i = 0;
    const n = items.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && items[l]!.at < items[m]!.at) m = l;
      if (r < n && items[r]!.at < items[m]!.at) m = r;
      if (m === i) break;
      const t = items[m]!;
      items[m] = items[i]!;
      items[i] = t;
      i = m;
    }
    return top;
  }

  /** Replaces the content with `live` items (used to drop stale ones); O(n). */
  rebuild(live: ExpiryItem[]): void {
    this.items = [];
    live.sort((a, b) => a.at - b.at);
    // A sorted array already satisfies the heap property.
    this.items = live;
  }

  clear(): void {
    this.items = [];
  }
}
