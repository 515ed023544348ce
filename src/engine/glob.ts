/**
 * Redis-style glob patterns for `keys()`: `*` any run, `?` one character, `[abc]`, `[a-z]`, `[^a]` sets,
 * and `\` to escape. Compiled once into an anchored RegExp.
 */
const cache = new Map<string, GlobMatcher>();

/** A compiled glob: `test(s)` is true when the whole of `s` matches. */
export interface GlobMatcher {
  test(s: string): boolean;
}

type Token = { kind: 'star' } | { kind: 'any' } | { kind: 'char'; c: string } | { kind: 'set'; re: RegExp };

/**
 * Compiles a glob (cached: the same patterns repeat). Matching is the two-pointer wildcard algorithm, which
 * backtracks only to the last `*`: O(pattern x key) at worst. A RegExp would backtrack exponentially on
 * patterns such as `*a*a*a*a*a*b`, letting one `keys()` call block the owner.
 */
export function globToRegExp(glob: string): GlobMatcher {
  const hit = cache.get(glob);
  if (hit) return hit;
  const tokens: Token[] = [];
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (tokens.at(-1)?.kind !== 'star') tokens.push({ kind: 'star' });
    } else if (c === '?') tokens.push({ kind: 'any' });
    else if (c === '\\' && i + 1 < glob.length) tokens.push({ kind: 'char', c: glob[++i]! });
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end === -1) {
        tokens.push({ kind: 'char', c: '[' });
        continue;
      }
      let body = glob.slice(i + 1, end);
      const negate = body.startsWith('^') || body.startsWith('!');
      if (negate) body = body.slice(1);
      // A one-character class is a bounded RegExp: no backtracking is possible inside it.
      tokens.push({ kind: 'set', re: new RegExp(`^[${negate ? '^' : ''}${body.replace(/[\\\]^]/g, '\\$&')}]$`) });
      i = end;
    } else tokens.push({ kind: 'char', c });
  }
  const one = (t: Token, ch: string) =>
    t.kind === 'any' || (t.kind === 'char' ? t.c === ch : t.kind === 'set' ? t.re.test(ch) : false);
  const matcher: GlobMatcher = {
    test(s: string): boolean {
      let p = 0;
      let i = 0;
      let starP = -1;
      let starI = 0;
      while (i < s.length) {
        const t = tokens[p];
        if (t && t.kind !== 'star' && one(t, s[i]!)) {
          p++;
          i++;
        } else if (t?.kind === 'star') {
          starP = p++;
          starI = i;
        } else if (starP !== -1) {
          p = starP + 1;
          i = ++starI;
        } else return false;
      }
      while (tokens[p]?.kind === 'star') p++;
      return p === tokens.length;
    },
  };
  if (cache.size > 1000) cache.clear();
  cache.set(glob, matcher);
  return matcher;
}

/** True when the glob has no special characters, so it can be matched as a plain prefix. */
export function literalPrefix(glob: string): string {
  const m = /[*?[\\]/.exec(glob);
  return m ? glob.slice(0, m.index) : glob;
}
