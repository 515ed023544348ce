/**
 * Redis-style glob patterns for `keys()`: `*` any run, `?` one character, `[abc]`, `[a-z]`, `[^a]` sets,
 * and `\` to escape. Compiled once into an anchored RegExp.
 */
const cache = new Map<string, RegExp>();

/** Compiles a glob into an anchored RegExp (cached: the same patterns repeat). */
export function globToRegExp(glob: string): RegExp {
  const hit = cache.get(glob);
  if (hit) return hit;
  let src = '^';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') src += '[\\s\\S]*';
    else if (c === '?') src += '[\\s\\S]';
    else if (c === '\\' && i + 1 < glob.length) src += escapeRe(glob[++i]!);
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end === -1) {
        src += '\\[';
        continue;
      }
      let body = glob.slice(i + 1, end);
      const negate = body.startsWith('^') || body.startsWith('!');
      if (negate) body = body.slice(1);
      src += `[${negate ? '^' : ''}${body.replace(/[\\\]^]/g, '\\$&')}]`;
      i = end;
    } else src += escapeRe(c);
  }
  const re = new RegExp(`${src}$`);
  if (cache.size > 1000) cache.clear();
  cache.set(glob, re);
  return re;
}

/** True when the glob has no special characters, so it can be matched as a plain prefix. */
export function literalPrefix(glob: string): string {
  const m = /[*?[\\]/.exec(glob);
  return m ? glob.slice(0, m.index) : glob;
}

function escapeRe(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}
