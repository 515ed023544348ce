/**
 * Keeps `docs/errors.md` and the code registry (`ErrorCodes`) in step, in the manner of fastify's
 * errors test: every code has exactly one `## CODE` section, and every such section names a real code.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ErrorCodes } from '../../src/index.js';

const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
const codes = Object.keys(ErrorCodes);

/** The level-2 headings of the doc, outside fenced code blocks. */
function headings(markdown: string): string[] {
  const found: string[] = [];
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    else if (!fenced && line.startsWith('## ')) found.push(line.slice(3).trim());
  }
  return found;
}

/** Each `## CODE` section's body, up to the next level-2 heading. */
function sections(markdown: string): Map<string, string> {
  const out = new Map<string, string>();
  const parts = markdown.split(/^## /m).slice(1);
  for (const part of parts) {
    const newline = part.indexOf('\n');
    out.set(part.slice(0, newline).trim(), part.slice(newline + 1));
  }
  return out;
}

const documented = headings(doc).filter((h) => h.startsWith('ERR_'));

describe('docs/errors.md', () => {
  it('documents every code of the registry', () => {
    const missing = codes.filter((code) => !documented.includes(code));
    assert.deepEqual(missing, [], `codes without a "## CODE" section in docs/errors.md: ${missing.join(', ')}`);
  });

  it('documents no code that is not in the registry', () => {
    const unknown = documented.filter((code) => !Object.hasOwn(ErrorCodes, code));
    assert.deepEqual(unknown, [], `sections for codes that ErrorCodes does not have: ${unknown.join(', ')}`);
  });

  it('documents each code once', () => {
    const twice = documented.filter((code, i) => documented.indexOf(code) !== i);
    assert.deepEqual(twice, []);
    assert.equal(documented.length, codes.length);
  });

  it('has no other level-2 heading, so every section is a code', () => {
    assert.deepEqual(
      headings(doc).filter((h) => !h.startsWith('ERR_')),
      [],
    );
  });

  it('lists the codes in the order of the registry', () => {
    assert.deepEqual(documented, codes);
  });

  it('gives each code its meaning, when it happens and what to do', () => {
    for (const [code, body] of sections(doc)) {
      const meaning = ErrorCodes[code as keyof typeof ErrorCodes];
      assert.ok(body.includes(meaning), `${code}: the section repeats the registry's meaning: "${meaning}"`);
      assert.match(body, /\*\*When\.\*\*/, `${code}: a "When." paragraph`);
      assert.match(body, /\*\*What to do\.\*\*/, `${code}: a "What to do." paragraph`);
    }
  });
});
