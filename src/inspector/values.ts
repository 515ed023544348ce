/**
 * Values for the inspector page: a JSON form that keeps every type the codec carries ("tagged JSON"), and
 * the parsing of what a user types in the editor.
 *
 * Plain JSON stays plain (`{"a":[1,"x",true,null]}`); anything JSON cannot carry becomes an object with
 * exactly one `$`-key:
 *
 * | value | tagged form |
 * | --- | --- |
 * | `undefined` | `{"$undefined":true}` |
 * | `NaN`, `±Infinity`, `-0` | `{"$number":"NaN"}` |
 * | `10n` | `{"$bigint":"10"}` |
 * | `new Date(0)` | `{"$date":"1970-01-01T00:00:00.000Z"}` (`null` for an invalid date) |
 * | `/a/g` | `{"$regexp":{"source":"a","flags":"g"}}` |
 * | `new Map([[1,'a']])` | `{"$map":[[1,"a"]]}` |
 * | `new Set([1])` | `{"$set":[1]}` |
 * | `Uint8Array.of(1,2)` | `{"$binary":{"type":"Uint8Array","hex":"0102"}}` |
 * | `new Error('x')` | `{"$error":{"name":"Error","message":"x"}}` |
 * | `{ $x: 1 }` (a key starting with `$`) | `{"$object":{"$x":1}}` |
 *
 * For display only (refused by {@link fromTagged}): `{"$circular":"path"}` for a reference back to an
 * enclosing object, and `{"$truncated":{...}}` where a large value was cut.
 */
import { Buffer } from 'node:buffer';
import { badArgument, describe } from '../errors.js';

/** A JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Limits of {@link toTagged}, so a huge value cannot flood the page. */
export interface TagLimits {
  /** Most values (nodes) rendered. @default 5000 */
  maxNodes?: number;
  /** Longest string rendered, in UTF-16 code units. @default 20000 */
  maxString?: number;
  /** Most bytes of a binary value rendered. @default 4096 */
  maxBinary?: number;
}

/** The result of {@link toTagged}. */
export interface TaggedValue {
  json: Json;
  /** True when something was cut (the value cannot be edited from this form). */
  truncated: boolean;
}

const TAGS = new Set([
  '$undefined',
  '$number',
  '$bigint',
  '$date',
  '$regexp',
  '$map',
  '$set',
  '$binary',
  '$error',
  '$object',
  '$circular',
  '$truncated',
]);

const TYPED_ARRAYS: Record<string, new (buffer: ArrayBuffer) => ArrayBufferView> = {
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
};

/** Converts a decoded value into its tagged JSON form (see the module comment). */
export function toTagged(value: unknown, limits: TagLimits = {}): TaggedValue {
  const maxNodes = limits.maxNodes ?? 5000;
  const maxString = limits.maxString ?? 20_000;
  const maxBinary = limits.maxBinary ?? 4096;
  let nodes = 0;
  let truncated = false;
  const ancestors: object[] = [];
  const paths: string[] = [];

  const cut = (kind: string, more: number): Json => {
    truncated = true;
    return { $truncated: { kind, more } };
  };

  /** Converts a list of children, cutting it when the node budget is spent. */
  const list = <T>(items: Iterable<T>, size: number, one: (item: T, i: number) => Json): Json[] => {
    const out: Json[] = [];
    let i = 0;
    for (const item of items) {
      if (nodes >= maxNodes) {
        out.push(cut('items', size - i));
        break;
      }
      out.push(one(item, i));
      i++;
    }
    return out;
  };

  const walk = (v: unknown, path: string): Json => {
    nodes++;
    if (v === null) return null;
    switch (typeof v) {
      case 'undefined':
        return { $undefined: true };
      case 'boolean':
        return v;
      case 'number':
        if (Number.isNaN(v)) return { $number: 'NaN' };
        if (v === Number.POSITIVE_INFINITY) return { $number: 'Infinity' };
        if (v === Number.NEGATIVE_INFINITY) return { $number: '-Infinity' };
        if (Object.is(v, -0)) return { $number: '-0' };
        return v;
      case 'bigint':
        return { $bigint: v.toString() };
      case 'string':
        if (v.length > maxString) {
          truncated = true;
          return { $truncated: { kind: 'string', text: v.slice(0, maxString), more: v.length - maxString } };
        }
        return v;
      case 'object':
        break;
      default:
        // Functions and symbols never come out of the codec; shown as text rather than dropped.
        return { $error: { name: 'Unsupported', message: describe(v) } };
    }
    const obj = v as object;
    const at = ancestors.indexOf(obj);
    if (at !== -1) return { $circular: paths[at] ?? '' };
    if (obj instanceof Date) {
      return { $date: Number.isNaN(obj.getTime()) ? null : obj.toISOString() };
    }
    if (obj instanceof RegExp) return { $regexp: { source: obj.source, flags: obj.flags } };
    if (ArrayBuffer.isView(obj) || obj instanceof ArrayBuffer) return { $binary: binary(obj) };
    if (obj instanceof Error) return { $error: { name: obj.name, message: obj.message } };
    ancestors.push(obj);
    paths.push(path);
    try {
      if (Array.isArray(obj)) return list(obj, obj.length, (item, i) => walk(item, `${path}[${i}]`));
      if (obj instanceof Map) {
        return {
          $map: list(obj, obj.size, ([k, val], i) => [walk(k, `${path}<key ${i}>`), walk(val, `${path}<${i}>`)]),
        };
      }
      if (obj instanceof Set) return { $set: list(obj, obj.size, (item, i) => walk(item, `${path}<${i}>`)) };
      const entries = Object.entries(obj);
      const out: Record<string, Json> = {};
      let i = 0;
      let escaped = false;
      for (const [k, val] of entries) {
        if (nodes >= maxNodes) {
          out.$truncated = { kind: 'keys', more: entries.length - i };
          truncated = true;
          escaped = true;
          break;
        }
        if (k.startsWith('$')) escaped = true;
        // defineProperty: a key named __proto__ must stay an own key, not change the prototype.
        Object.defineProperty(out, k, { value: walk(val, `${path}.${k}`), enumerable: true, writable: true });
        i++;
      }
      return escaped ? { $object: out } : out;
    } finally {
      ancestors.pop();
      paths.pop();
    }
  };

  const binary = (obj: ArrayBufferView | ArrayBuffer): Json => {
    const type = obj instanceof ArrayBuffer ? 'ArrayBuffer' : Buffer.isBuffer(obj) ? 'Buffer' : obj.constructor.name;
    const bytes =
      obj instanceof ArrayBuffer ? new Uint8Array(obj) : new Uint8Array(obj.buffer, obj.byteOffset, obj.byteLength);
    const shown = bytes.subarray(0, maxBinary);
    const out: Record<string, Json> = { type, hex: Buffer.from(shown).toString('hex') };
    if (bytes.length > maxBinary) {
      truncated = true;
      out.more = bytes.length - maxBinary;
    }
    return out;
  };

  const json = walk(value, '$');
  return { json, truncated };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The one `$`-key of a tagged object, or undefined for a plain object. */
function tagOf(v: Record<string, unknown>): string | undefined {
  const keys = Object.keys(v);
  return keys.length === 1 && TAGS.has(keys[0]!) ? keys[0] : undefined;
}

function hexBytes(hex: unknown, where: string): Uint8Array<ArrayBuffer> {
  if (typeof hex !== 'string') throw badArgument(`Expected ${where} to be a hex string, got ${describe(hex)}`);
  const clean = hex.replace(/\s+/g, '');
  if (clean.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(clean)) {
    throw badArgument(`Expected ${where} to be hex digits in pairs, got ${describe(hex)}`);
  }
  return new Uint8Array(Buffer.from(clean, 'hex'));
}

/**
 * Converts tagged JSON (already parsed) back into the value it stands for.
 *
 * @throws SharedKVError `ERR_SHAREDKV_BAD_ARGUMENT` for a malformed tag, or for `$circular` / `$truncated`
 * (display-only forms).
 */
export function fromTagged(json: unknown, path = '$'): unknown {
  if (json === null || typeof json === 'boolean' || typeof json === 'number' || typeof json === 'string') return json;
  if (Array.isArray(json)) return json.map((item, i) => fromTagged(item, `${path}[${i}]`));
  if (!isRecord(json)) throw badArgument(`Unexpected ${describe(json)} at ${path}`);
  const tag = tagOf(json);
  if (tag === undefined) return plainObject(json, path);
  const body = json[tag];
  switch (tag) {
    case '$undefined':
      return undefined;
    case '$number': {
      const n = {
        NaN: Number.NaN,
        Infinity: Number.POSITIVE_INFINITY,
        '-Infinity': Number.NEGATIVE_INFINITY,
        '-0': -0,
      }[String(body)];
      if (n === undefined) throw badArgument(`Expected $number at ${path} to be NaN, Infinity, -Infinity or -0`);
      return n;
    }
    case '$bigint':
      if (typeof body !== 'string' || !/^-?\d+$/.test(body)) {
        throw badArgument(`Expected $bigint at ${path} to be a string of digits, got ${describe(body)}`);
      }
      return BigInt(body);
    case '$date': {
      if (body === null) return new Date(Number.NaN);
      const d = typeof body === 'string' || typeof body === 'number' ? new Date(body) : new Date(Number.NaN);
      if (Number.isNaN(d.getTime()))
        throw badArgument(`Expected $date at ${path} to be an ISO date, got ${describe(body)}`);
      return d;
    }
    case '$regexp': {
      const r = isRecord(body) ? body : {};
      if (typeof r.source !== 'string') throw badArgument(`Expected $regexp at ${path} to have a string source`);
      try {
        return new RegExp(r.source, typeof r.flags === 'string' ? r.flags : '');
      } catch (err) {
        throw badArgument(`Invalid $regexp at ${path}: ${(err as Error).message}`);
      }
    }
    case '$map':
      if (!Array.isArray(body)) throw badArgument(`Expected $map at ${path} to be a list of [key, value] pairs`);
      return new Map(
        body.map((pair, i) => {
          if (!Array.isArray(pair) || pair.length !== 2) {
            throw badArgument(`Expected entry ${i} of $map at ${path} to be a [key, value] pair`);
          }
          return [fromTagged(pair[0], `${path}<key ${i}>`), fromTagged(pair[1], `${path}<${i}>`)];
        }),
      );
    case '$set':
      if (!Array.isArray(body)) throw badArgument(`Expected $set at ${path} to be a list`);
      return new Set(body.map((item, i) => fromTagged(item, `${path}<${i}>`)));
    case '$binary': {
      const b = isRecord(body) ? body : {};
      const bytes = hexBytes(b.hex, `$binary.hex at ${path}`);
      const type = b.type ?? 'Uint8Array';
      if (type === 'Uint8Array') return bytes;
      if (type === 'Buffer') return Buffer.from(bytes);
      if (type === 'ArrayBuffer') return bytes.buffer;
      if (type === 'DataView') return new DataView(bytes.buffer);
      const Ctor = typeof type === 'string' ? TYPED_ARRAYS[type] : undefined;
      if (!Ctor) throw badArgument(`Unknown $binary type ${describe(type)} at ${path}`);
      const per = (Ctor as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
      if (bytes.length % per !== 0) {
        throw badArgument(`A ${type} at ${path} needs a multiple of ${per} bytes, got ${bytes.length}`);
      }
      return new Ctor(bytes.buffer);
    }
    case '$error': {
      const e = isRecord(body) ? body : {};
      const err = new Error(typeof e.message === 'string' ? e.message : '');
      if (typeof e.name === 'string') err.name = e.name;
      return err;
    }
    case '$object':
      if (!isRecord(body)) throw badArgument(`Expected $object at ${path} to be an object`);
      return plainObject(body, path);
    default:
      // $circular and $truncated are display-only.
      throw badArgument(
        `${tag} at ${path} stands for a value shown only in part; it cannot be written back. Edit the whole value instead.`,
      );
  }
}

function plainObject(json: Record<string, unknown>, path: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(json)) {
    Object.defineProperty(out, k, {
      value: fromTagged(v, `${path}.${k}`),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

/** How the editor's text is read (the type picker). */
export type InputType =
  | 'json'
  | 'string'
  | 'number'
  | 'bigint'
  | 'boolean'
  | 'date'
  | 'null'
  | 'map'
  | 'set'
  | 'binary';

/** Every editor input type. */
export const INPUT_TYPES: readonly InputType[] = [
  'json',
  'string',
  'number',
  'bigint',
  'boolean',
  'date',
  'null',
  'map',
  'set',
  'binary',
];

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw badArgument(`Expected ${what} as JSON: ${(err as Error).message}`);
  }
}

/**
 * Reads the editor's text as a value of type `as`: `json` is tagged JSON (plain JSON is valid tagged JSON);
 * `string` takes the text as it is; `map` takes a JSON list of `[key, value]` pairs or an object; `set` a
 * JSON list; `binary` hex digits; the scalar types their usual spelling (`NaN`, `-0`, `123n`, ISO dates or
 * ms since the epoch).
 *
 * @throws SharedKVError `ERR_SHAREDKV_BAD_ARGUMENT` when the text does not fit the type.
 */
export function parseInput(text: string, as: InputType): unknown {
  if (typeof text !== 'string') throw badArgument(`Expected the value as text, got ${describe(text)}`);
  const t = text.trim();
  switch (as) {
    case 'json':
      return fromTagged(parseJson(text, 'a value'));
    case 'string':
      return text;
    case 'number': {
      const special = { NaN: Number.NaN, Infinity: Number.POSITIVE_INFINITY, '-Infinity': Number.NEGATIVE_INFINITY }[t];
      if (special !== undefined) return special;
      if (t === '-0') return -0;
      if (!/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(t)) throw badArgument(`Expected a number, got ${describe(t)}`);
      return Number(t);
    }
    case 'bigint':
      if (!/^-?\d+n?$/.test(t))
        throw badArgument(`Expected an integer (digits, optional trailing n), got ${describe(t)}`);
      return BigInt(t.replace(/n$/, ''));
    case 'boolean':
      if (t !== 'true' && t !== 'false') throw badArgument(`Expected true or false, got ${describe(t)}`);
      return t === 'true';
    case 'date': {
      const d = /^-?\d+$/.test(t) ? new Date(Number(t)) : new Date(t);
      if (t === '' || Number.isNaN(d.getTime()))
        throw badArgument(`Expected an ISO date or ms since the epoch, got ${describe(t)}`);
      return d;
    }
    case 'null':
      return null;
    case 'map': {
      const j = parseJson(text, 'a map ([[key, value], ...] or {...})');
      if (Array.isArray(j)) return fromTagged({ $map: j });
      if (isRecord(j)) return new Map(Object.entries(j).map(([k, v]) => [k, fromTagged(v, `$.${k}`)]));
      throw badArgument('Expected a map as a JSON list of [key, value] pairs or an object');
    }
    case 'set': {
      const j = parseJson(text, 'a set ([...])');
      if (!Array.isArray(j)) throw badArgument('Expected a set as a JSON list');
      return fromTagged({ $set: j });
    }
    case 'binary':
      return hexBytes(t, 'the bytes');
    default:
      throw badArgument(`Expected the type to be one of ${INPUT_TYPES.join(', ')}, got ${describe(as)}`);
  }
}
