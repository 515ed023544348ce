/**
 * The Lua script behind every write (and every batch): a small copy of the engine's value commands that
 * runs inside Redis, so each call is atomic there. Commands run against a staged view of their keys; only
 * when all of them succeeded are the writes applied and their change events published, so a failing
 * command (a wrong type, a stale fence) leaves nothing behind, as the memory engine's undo log does.
 *
 * Counters: values are stored with the msgpack codec, so a number is not a Redis integer. The script reads
 * the msgpack number formats msgpackr writes (and float32) and writes the result exactly as msgpackr
 * would (its thresholds are measured from the codec when this module loads), so `cas` and byte equality
 * see the same bytes whichever backend wrote them. In the `json` encoding it reads JSON numbers and writes
 * the shortest round-trip form in JavaScript's own layout (`Number.prototype.toString`).
 *
 * Call: KEYS are the keys the commands use; ARGV = events channel ('' for none), load channel, encoding
 * ('m' or 'j'), number of commands, then each command as its name and arguments (see {@link KvOp}).
 * Errors are raised as `SKV <code> <command index> <detail>`.
 */
import { encodeNumber } from '../../protocol/codec.js';

/** One command for the script, as sent: its name first, key arguments as 1-based KEYS indexes. */
export type KvOp =
  | ['get', number]
  | ['has', number]
  | ['ttl', number]
  /** key, value, flags (n: nx, x: xx, k: keepTtl, g: get), ttl or 0, fence holders key or 0, counters key or 0, token */
  | ['set', number, Uint8Array | string, string, number, number, number, number]
  | ['del', number, ...number[]]
  | ['incr', number, number]
  | ['expire', number, number]
  | ['persist', number]
  /** key, has expected (1/0), expected, has next (1/0), next, ttl or 0, the expected value's older encoding or '' */
  | ['cas', number, 0 | 1, Uint8Array | string, 0 | 1, Uint8Array | string, number, Uint8Array | string]
  /** data key, marker key, ticket, lease */
  | ['claim', number, number, number, number]
  /** data key, marker key, ticket, has value (1/0), value, ttl or 0 */
  | ['fill', number, number, number, 0 | 1, Uint8Array | string, number];

/** How many arguments follow each command's name (`del` carries its count first). */
function fixint(): number {
  for (let n = 0; n < 128; n++) if (encodeNumber(n).length > 1) return n;
  return 128;
}

function luaBytes(bytes: Uint8Array): string {
  return `'${[...bytes].map((b) => `\\${b}`).join('')}'`;
}

const FIXINT_LIMIT = fixint();
const NEGATIVE_ZERO = luaBytes(encodeNumber(-0));

export const KV_LUA = `
local EV, LOADCH, ENC = ARGV[1], ARGV[2], ARGV[3]
local S = {}
local events = {}
local idx = 0
local clock

local function fail(code, detail)
  error({err = 'SKV ' .. code .. ' ' .. idx .. ' ' .. tostring(detail)})
end

local function now_ms()
  if not clock then
    local t = redis.call('TIME')
    clock = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  return clock
end

local function load(i)
  local s = S[i]
  if s then return s end
  local v = redis.call('GET', KEYS[i])
  s = {ex = v ~= false, ox = v ~= false, v = v, tm = 'o', vch = false, tch = false}
  S[i] = s
  return s
end

-- Remaining ttl of a live staged key in ms, or -1 without one.
local function ttl_of(i, s)
  if s.tm == 'o' then
    if s.opttl == nil then s.opttl = tonumber(redis.call('PTTL', KEYS[i])) end
    if s.opttl < 0 then return -1 end
    return s.opttl
  elseif s.tm == 'n' then return -1 end
  return s.tm
end

local function decode_m(v)
  local n = #v
  local b = string.byte(v, 1)
  if n == 1 then
    if b < 128 then return b end
    if b >= 224 then return b - 256 end
    return nil
  end
  if b == 204 and n == 2 then return string.byte(v, 2) end
  if b == 205 and n == 3 then return (struct.unpack('>H', v, 2)) end
  if b == 206 and n == 5 then return (struct.unpack('>I4', v, 2)) end
  if b == 208 and n == 2 then return (struct.unpack('>b', v, 2)) end
  if b == 209 and n == 3 then return (struct.unpack('>h', v, 2)) end
  if b == 210 and n == 5 then return (struct.unpack('>i4', v, 2)) end
  if b == 202 and n == 5 then return (struct.unpack('>f', v, 2)) end
  if b == 203 and n == 9 then return (struct.unpack('>d', v, 2)) end
  return nil
end

-- The bytes msgpackr writes for a number.
local function encode_m(x)
  if x ~= x then return '\\203\\127\\248\\0\\0\\0\\0\\0\\0' end
  if x == 0 and 1 / x < 0 then return ${NEGATIVE_ZERO} end
  if x == math.floor(x) then
    if x >= 0 and x < 4294967296 then
      if x < ${FIXINT_LIMIT} then return string.char(x) end
      if x < 256 then return '\\204' .. string.char(x) end
      if x < 65536 then return '\\205' .. struct.pack('>H', x) end
      return '\\206' .. struct.pack('>I4', x)
    elseif x < 0 and x >= -2147483648 then
      if x >= -32 then return string.char(256 + x) end
      if x >= -128 then return '\\208' .. struct.pack('>b', x) end
      if x >= -32768 then return '\\209' .. struct.pack('>h', x) end
      return '\\210' .. struct.pack('>i4', x)
    end
  end
  return '\\203' .. struct.pack('>d', x)
end

local function decode_j(v)
  local p = 1
  if string.sub(v, 1, 1) == '-' then p = 2 end
  local _, e = string.find(v, '^0', p)
  if not e then _, e = string.find(v, '^[1-9]%d*', p) end
  if not e then return nil end
  p = e + 1
  _, e = string.find(v, '^%.%d+', p)
  if e then p = e + 1 end
  _, e = string.find(v, '^[eE][-+]?%d+', p)
  if e then p = e + 1 end
  if p ~= #v + 1 then return nil end
  return tonumber(v)
end

-- Number.prototype.toString: the shortest digits that read back as x, laid out as JavaScript does.
local function encode_j(x)
  if x ~= x or x == math.huge or x == -math.huge then return nil end
  if x == 0 then return '0' end
  local s
  for p = 0, 16 do
    s = string.format('%.' .. p .. 'e', x)
    if tonumber(s) == x then break end
  end
  local sign, int, frac, exp = string.match(s, '^(-?)(%d)%.?(%d*)e([-+]%d+)$')
  local digits = string.gsub(int .. frac, '0+$', '')
  local k = #digits
  local n = tonumber(exp) + 1
  local out
  if k <= n and n <= 21 then
    out = digits .. string.rep('0', n - k)
  elseif 0 < n and n <= 21 then
    out = string.sub(digits, 1, n) .. '.' .. string.sub(digits, n + 1)
  elseif -6 < n and n <= 0 then
    out = '0.' .. string.rep('0', -n) .. digits
  else
    local e = n - 1
    local es = (e >= 0) and ('+' .. string.format('%d', e)) or string.format('%d', e)
    if k == 1 then out = digits .. 'e' .. es
    else out = string.sub(digits, 1, 1) .. '.' .. string.sub(digits, 2) .. 'e' .. es end
  end
  return sign .. out
end

local decode_number, encode_number = decode_m, encode_m
if ENC == 'j' then decode_number, encode_number = decode_j, encode_j end

local function put(i, s, v, tm)
  s.ex = true
  s.v = v
  s.vch = true
  if tm ~= nil then s.tm = tm; s.tch = true end
  events[#events + 1] = {'s', i, v}
end

local function remove(i, s)
  s.ex = false
  s.v = false
  s.tm = 'n'
  s.vch = true
  events[#events + 1] = {'d', i, ''}
end

local function fence(hi, fi, token)
  local score = redis.call('ZSCORE', KEYS[hi], token)
  if not score or tonumber(score) <= now_ms() then
    fail('LOCK_LOST', redis.call('HGET', KEYS[fi], 't') or '0')
  end
end

local results = {}
local pos = 5
for n = 1, tonumber(ARGV[4]) do
  idx = n - 1
  local op = ARGV[pos]
  local i = tonumber(ARGV[pos + 1])
  local r
  if op == 'get' then
    local s = load(i)
    r = s.ex and s.v or false
    pos = pos + 2
  elseif op == 'has' then
    r = load(i).ex and 1 or 0
    pos = pos + 2
  elseif op == 'ttl' then
    local s = load(i)
    if s.ex then r = ttl_of(i, s) else r = -2 end
    pos = pos + 2
  elseif op == 'set' then
    local v, flags, ttl = ARGV[pos + 2], ARGV[pos + 3], tonumber(ARGV[pos + 4])
    local hi = tonumber(ARGV[pos + 5])
    if hi > 0 then fence(hi, tonumber(ARGV[pos + 6]), ARGV[pos + 7]) end
    local s = load(i)
    local prev = s.ex and s.v or false
    local ok = 1
    if (s.ex and string.find(flags, 'n', 1, true)) or (not s.ex and string.find(flags, 'x', 1, true)) then
      ok = 0
    else
      local tm
      if string.find(flags, 'k', 1, true) and s.ex then tm = nil
      elseif ttl > 0 then tm = ttl
      else tm = 'n' end
      put(i, s, v, tm)
    end
    if string.find(flags, 'g', 1, true) then r = prev else r = ok end
    pos = pos + 8
  elseif op == 'del' then
    local count = tonumber(ARGV[pos + 1])
    r = 0
    for j = 1, count do
      local k = tonumber(ARGV[pos + 1 + j])
      local s = load(k)
      if s.ex then
        remove(k, s)
        r = r + 1
      end
    end
    pos = pos + 2 + count
  elseif op == 'incr' then
    local s = load(i)
    local current = 0
    if s.ex then
      current = decode_number(s.v)
      if current == nil then fail('WRONG_TYPE', i) end
    end
    local enc = encode_number(current + tonumber(ARGV[pos + 2]))
    if enc == nil then fail('NOT_SERIALIZABLE', i) end
    if s.ex then put(i, s, enc, nil) else put(i, s, enc, 'n') end
    r = enc
    pos = pos + 3
  elseif op == 'expire' then
    local s = load(i)
    if s.ex then
      s.tm = tonumber(ARGV[pos + 2])
      s.tch = true
      r = 1
    else r = 0 end
    pos = pos + 3
  elseif op == 'persist' then
    local s = load(i)
    if s.ex and ttl_of(i, s) >= 0 then
      s.tm = 'n'
      s.tch = true
      r = 1
    else r = 0 end
    pos = pos + 2
  elseif op == 'cas' then
    local s = load(i)
    local ttl = tonumber(ARGV[pos + 6])
    local match
    if ARGV[pos + 2] == '0' then match = not s.ex
    else match = s.ex and (s.v == ARGV[pos + 3] or (ARGV[pos + 7] ~= '' and s.v == ARGV[pos + 7])) end
    if not match then
      r = 0
    else
      if ARGV[pos + 4] == '0' then
        if s.ex then remove(i, s) end
      elseif ttl > 0 then put(i, s, ARGV[pos + 5], ttl)
      elseif s.ex then put(i, s, ARGV[pos + 5], nil)
      else put(i, s, ARGV[pos + 5], 'n') end
      r = 1
    end
    pos = pos + 8
  elseif op == 'claim' then
    local s = load(i)
    local marker = KEYS[tonumber(ARGV[pos + 2])]
    if s.ex then
      r = {0, s.v}
    elseif redis.call('EXISTS', marker) == 1 then
      r = {2, redis.call('PTTL', marker)}
    else
      redis.call('SET', marker, ARGV[pos + 3], 'PX', ARGV[pos + 4])
      r = {1}
    end
    pos = pos + 5
  elseif op == 'fill' then
    local marker = KEYS[tonumber(ARGV[pos + 2])]
    if redis.call('GET', marker) ~= ARGV[pos + 3] then
      r = 0
    else
      redis.call('DEL', marker)
      if ARGV[pos + 4] == '1' then
        local ttl = tonumber(ARGV[pos + 6])
        put(i, load(i), ARGV[pos + 5], (ttl > 0) and ttl or 'n')
      end
      if LOADCH ~= '' then redis.call('PUBLISH', LOADCH, KEYS[i]) end
      r = 1
    end
    pos = pos + 7
  else
    fail('PROTOCOL', op)
  end
  results[n] = r
end

for i = 1, #KEYS do
  local s = S[i]
  if s and (s.vch or s.tch) then
    local k = KEYS[i]
    if not s.ex then
      if s.ox then redis.call('DEL', k) end
    elseif s.vch then
      if s.tm == 'o' then redis.call('SET', k, s.v, 'KEEPTTL')
      elseif s.tm == 'n' then redis.call('SET', k, s.v)
      else redis.call('SET', k, s.v, 'PX', s.tm) end
    elseif s.tm == 'n' then redis.call('PERSIST', k)
    elseif s.tm ~= 'o' then redis.call('PEXPIRE', k, s.tm) end
  end
end

if EV ~= '' and #events > 0 then
  local parts = {}
  for j = 1, #events do
    local e = events[j]
    local k = KEYS[e[2]]
    parts[j] = e[1] .. struct.pack('>I4', #k) .. k .. struct.pack('>I4', #e[3]) .. e[3]
  end
  redis.call('PUBLISH', EV, table.concat(parts))
end

return results
`;
