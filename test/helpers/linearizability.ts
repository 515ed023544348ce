/**
 * A linearizability checker for histories of register operations (get, set, incr, cas, del), in the manner
 * of Wing & Gong's search with Lowe's memoisation (the "WGL" algorithm of Lowe, "Testing for
 * linearizability", 2017, also used by Porcupine and Knossos):
 *
 * - The history is split by key first. Linearizability is compositional (P-compositionality): a history
 *   is linearizable exactly when the sub-history of every key is, so each key is searched on its own.
 * - For one key, calls and returns are put in time order in a linked list. The search repeatedly tries to
 *   linearize a call that is minimal (no other operation returned before it was invoked) and that the
 *   sequential model accepts; reaching a return whose call is not yet linearized means backtracking.
 * - A cache of (set of linearized operations, model state) prunes every configuration already explored,
 *   which is what keeps the search near-linear on real histories. The set is hashed incrementally with
 *   random 64-bit (two 32-bit) codes per operation; a rejection is confirmed by a second search with exact
 *   keys, so a hash collision can never make a linearizable history fail.
 *
 * An operation whose outcome is unknown (the call failed: timeout, disconnect) has `response: Infinity`
 * and no result: it may have taken effect at any point after its invocation, or never.
 */

/** One register operation with its result. */
export type RegisterOp =
  | { f: 'get'; result: number | undefined }
  | { f: 'set'; value: number }
  | { f: 'incr'; by: number; result: number }
  | { f: 'cas'; expected: number | undefined; next: number; result: boolean }
  | { f: 'del'; result: number };

/** One operation of a history, with its invocation and response times (µs on one clock). */
export interface HistoryOp {
  /** Which client issued it (for messages). */
  client: string;
  key: string;
  invoke: number;
  /** `Infinity` when the outcome is unknown. */
  response: number;
  op: RegisterOp;
}

/** The state of one register: a number, or undefined when the key does not exist. */
type State = number | undefined;

/**
 * The sequential specification. Returns the state after `op`, or `null` when `op`'s recorded result is
 * impossible from `state`. An unknown outcome (`unknown`) accepts any result.
 */
export function step(state: State, op: RegisterOp, unknown = false): { next: State } | null {
  switch (op.f) {
    case 'get':
      return unknown || op.result === state ? { next: state } : null;
    case 'set':
      return { next: op.value };
    case 'incr': {
      const next = (state ?? 0) + op.by;
      return unknown || op.result === next ? { next } : null;
    }
    case 'cas': {
      const match = op.expected === state;
      if (unknown) return { next: match ? op.next : state };
      if (op.result !== match) return null;
      return { next: match ? op.next : state };
    }
    case 'del':
      return unknown || op.result === (state === undefined ? 0 : 1) ? { next: undefined } : null;
  }
}

/** The verdict on one key. */
export interface KeyVerdict {
  key: string;
  ops: number;
  linearizable: boolean;
  /** Configurations explored (search steps). */
  steps: number;
  /** Most operations linearized at once before the search gave up (for a rejection). */
  longestPrefix: number;
  /** For a rejection: the operations that could not be placed at the deepest point, described. */
  stuckAt?: string[];
  /** True when the search gave up at its step budget: neither proved nor refuted (counted as a failure). */
  undecided?: boolean;
}

/** The verdict on a whole history. */
export interface Verdict {
  linearizable: boolean;
  ops: number;
  keys: KeyVerdict[];
  ms: number;
}

interface Node {
  /** Index of the operation. */
  id: number;
  isCall: boolean;
  time: number;
  /** For a call, its return node. */
  match: Node | null;
  prev: Node | null;
  next: Node | null;
}

/** Checks a whole history, key by key. */
export function checkHistory(history: readonly HistoryOp[]): Verdict {
  const t0 = performance.now();
  const byKey = new Map<string, HistoryOp[]>();
  for (const h of history) {
    let list = byKey.get(h.key);
    if (!list) {
      list = [];
      byKey.set(h.key, list);
    }
    list.push(h);
  }
  const keys: KeyVerdict[] = [];
  for (const [key, ops] of byKey) keys.push(checkKey(key, ops));
  return {
    linearizable: keys.every((k) => k.linearizable),
    ops: history.length,
    keys,
    ms: Math.round(performance.now() - t0),
  };
}

/** Most search steps per key before the checker gives up (a refutation deep in a long history can be costly). */
const MAX_STEPS = 20_000_000;

/** Checks the history of one key (the initial state is "absent"). */
export function checkKey(
  key: string,
  ops: readonly HistoryOp[],
  initial: State = undefined,
  maxSteps = MAX_STEPS,
): KeyVerdict {
  const first = search(ops, initial, false, maxSteps);
  if (first.ok) return { key, ops: ops.length, linearizable: true, steps: first.steps, longestPrefix: ops.length };
  if (first.exhausted) {
    return {
      key,
      ops: ops.length,
      linearizable: false,
      steps: first.steps,
      longestPrefix: first.longest,
      undecided: true,
    };
  }
  // Confirm with exact cache keys, so a hash collision cannot fail a good history.
  const exact = search(ops, initial, true, maxSteps);
  const verdict: KeyVerdict = {
    key,
    ops: ops.length,
    linearizable: exact.ok,
    steps: first.steps + exact.steps,
    longestPrefix: exact.ok ? ops.length : exact.longest,
  };
  if (exact.exhausted) verdict.undecided = true;
  else if (!exact.ok) verdict.stuckAt = exact.stuck.map((i) => describeOp(ops[i]!));
  return verdict;
}

/** A readable form of one operation, for failure messages. */
export function describeOp(h: HistoryOp): string {
  const o = h.op;
  const times = `[${h.invoke.toFixed(1)}, ${h.response === Number.POSITIVE_INFINITY ? '∞' : h.response.toFixed(1)}]`;
  const body =
    o.f === 'get'
      ? `get → ${o.result}`
      : o.f === 'set'
        ? `set(${o.value})`
        : o.f === 'incr'
          ? `incr(${o.by}) → ${o.result}`
          : o.f === 'cas'
            ? `cas(${o.expected}, ${o.next}) → ${o.result}`
            : `del → ${o.result}`;
  return `${h.client} ${h.key} ${body} ${times}`;
}

function buildList(ops: readonly HistoryOp[]): Node {
  const nodes: Node[] = [];
  ops.forEach((h, id) => {
    const ret: Node = { id, isCall: false, time: h.response, match: null, prev: null, next: null };
    const call: Node = { id, isCall: true, time: h.invoke, match: ret, prev: null, next: null };
    nodes.push(call, ret);
  });
  // Calls before returns at equal times: operations that touch in time are concurrent.
  nodes.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? 0 : a.isCall ? -1 : 1));
  const head: Node = { id: -1, isCall: false, time: Number.NEGATIVE_INFINITY, match: null, prev: null, next: null };
  let last = head;
  for (const n of nodes) {
    last.next = n;
    n.prev = last;
    last = n;
  }
  return head;
}

function lift(call: Node): void {
  call.prev!.next = call.next;
  if (call.next) call.next.prev = call.prev;
  const ret = call.match!;
  ret.prev!.next = ret.next;
  if (ret.next) ret.next.prev = ret.prev;
}

function unlift(call: Node): void {
  const ret = call.match!;
  ret.prev!.next = ret;
  if (ret.next) ret.next.prev = ret;
  call.prev!.next = call;
  if (call.next) call.next.prev = call;
}

/** A deterministic 32-bit generator for the hash codes (xorshift). */
function codes(n: number, seed: number): Uint32Array {
  const out = new Uint32Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x;
  }
  return out;
}

function search(
  ops: readonly HistoryOp[],
  initial: State,
  exact: boolean,
  maxSteps: number,
): { ok: boolean; exhausted: boolean; steps: number; longest: number; stuck: number[] } {
  const n = ops.length;
  const head = buildList(ops);
  const lo = codes(n, 0x9e3779b9);
  const hi = codes(n, 0x85ebca6b);
  // The exact key: the set of linearized operations as 16 bits per character.
  const words = new Uint16Array(Math.ceil(n / 16));
  let h1 = 0;
  let h2 = 0;
  const cache = new Set<string>();
  const stack: Array<{ node: Node; state: State }> = [];
  let state = initial;
  let node = head.next;
  let steps = 0;
  let longest = 0;
  let stuck: number[] = [];
  const keyOf = (s: State): string => {
    if (!exact) return `${h1}:${h2}:${s}`;
    let bits = '';
    for (let i = 0; i < words.length; i += 4096) bits += String.fromCharCode(...words.subarray(i, i + 4096));
    return `${bits}:${s}`;
  };
  const flip = (id: number) => {
    words[id >> 4] = words[id >> 4]! ^ (1 << (id & 15));
    h1 ^= lo[id]!;
    h2 ^= hi[id]!;
  };
  while (head.next !== null) {
    if (++steps > maxSteps) return { ok: false, exhausted: true, steps, longest, stuck: [] };
    if (node === null) throw new Error('linearizability search ran off the list');
    if (node.isCall) {
      const h = ops[node.id]!;
      const r = step(state, h.op, h.response === Number.POSITIVE_INFINITY);
      if (r) {
        flip(node.id);
        const k = keyOf(r.next);
        if (!cache.has(k)) {
          cache.add(k);
          stack.push({ node, state });
          state = r.next;
          lift(node);
          node = head.next;
          continue;
        }
        flip(node.id);
      }
      node = node.next;
    } else {
      // A return whose call is not linearized: every ordering tried from here fails; backtrack.
      if (exact && stack.length >= longest) {
        longest = stack.length;
        stuck = [];
        for (let c: Node | null = head.next; c !== null && c !== node.next; c = c.next) if (c.isCall) stuck.push(c.id);
        stuck.push(node.id);
      }
      const top = stack.pop();
      if (!top) return { ok: false, exhausted: false, steps, longest, stuck: [...new Set(stuck)] };
      state = top.state;
      flip(top.node.id);
      unlift(top.node);
      node = top.node.next;
    }
  }
  return { ok: true, exhausted: false, steps, longest: n, stuck: [] };
}
