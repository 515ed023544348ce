/**
 * The calls a client has in flight, by request id.
 *
 * A `Map` did this job, but with a few dozen calls in flight it grew as a burst was sent and shrank as its
 * replies came back: a new hash table every round trip, each one old enough to be promoted by the next
 * scavenge. In the 64-in-flight benchmark that churn was the largest thing the clients allocated. Ids are
 * handed out in sequence, so the ids in flight are almost always distinct modulo a power of two a little
 * above their count: this table keeps each call in slot `id & mask` and doubles when two live ids would
 * share a slot. It never allocates per call and never shrinks (a burst of 100,000 calls leaves ~1.5 MB).
 */
export class PendingTable<T> {
  private ids = new Int32Array(64);
  private items: Array<T | undefined> = new Array<T | undefined>(64).fill(undefined);
  private mask = 63;
  private count = 0;

  /** Calls in the table. */
  get size(): number {
    return this.count;
  }

  /** The call with this id, if it is in flight. */
  get(id: number): T | undefined {
    const slot = id & this.mask;
    return this.ids[slot] === id ? this.items[slot] : undefined;
  }

  /** Adds a call; `id` must be a positive int32 that is not in the table. */
  set(id: number, item: T): void {
    let slot = id & this.mask;
    while (this.ids[slot] !== 0) {
      this.grow();
      slot = id & this.mask;
    }
    this.ids[slot] = id;
    this.items[slot] = item;
    this.count++;
  }

  /** Removes the call with this id; false when it was not in flight. */
  delete(id: number): boolean {
    const slot = id & this.mask;
    if (this.ids[slot] !== id) return false;
    this.ids[slot] = 0;
    this.items[slot] = undefined;
    this.count--;
    return true;
  }

  /**
   * Calls `fn` for every call in the table (in slot order, not issue order). `fn` may delete calls but
   * must not add any.
   */
  forEach(fn: (item: T, id: number) => void): void {
    const ids = this.ids;
    const items = this.items;
    for (let slot = 0; slot < ids.length && this.count > 0; slot++) {
      const id = ids[slot]!;
      if (id !== 0) fn(items[slot] as T, id);
    }
  }

  /** Removes every call and returns them. */
  drain(): T[] {
    const out: T[] = [];
    this.forEach((item) => {
      out.push(item);
    });
    this.ids.fill(0);
    this.items.fill(undefined);
    this.count = 0;
    return out;
  }

  /** Doubles the table until every live id has a slot of its own. */
  private grow(): void {
    const oldIds = this.ids;
    const oldItems = this.items;
    for (let size = oldIds.length * 2; ; size *= 2) {
      const ids = new Int32Array(size);
      const items = new Array<T | undefined>(size).fill(undefined);
      const mask = size - 1;
      let clash = false;
      for (let slot = 0; slot < oldIds.length; slot++) {
        const id = oldIds[slot]!;
        if (id === 0) continue;
        const to = id & mask;
        if (ids[to] !== 0) {
          clash = true;
          break;
        }
        ids[to] = id;
        items[to] = oldItems[slot];
      }
      if (clash) continue;
      this.ids = ids;
      this.items = items;
      this.mask = mask;
      return;
    }
  }
}
