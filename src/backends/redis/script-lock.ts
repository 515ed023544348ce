/**
 * The Lua script of locks and semaphores. All times are Redis's own clock (`TIME`), so the processes'
 * clocks never matter.
 *
 * - Holders: a sorted set of fencing token → lease end. A holder's Redis-side lease is the shorter of its
 *   `ttl` and the liveness window; the holder's process renews it (up to `ttl`) while it lives, so a dead
 *   holder's lock frees within the liveness window, and a live one still loses it at its `ttl`.
 * - Tokens come from a counter per lock name that only grows (kept in the `lf` hash with the arrival
 *   counter and the semaphore limit), so a stale holder's fenced write is refused.
 * - Waiters: a sorted set by arrival, served first come, first served: a free permit goes to a newcomer
 *   only when nobody waits, and otherwise to the first waiters in line. Each waiter keeps its place by
 *   calling again within the liveness window; a dead waiter's place lapses.
 * - A grant answers `{1, token, lease end}`, a refusal `{0}`, a queued waiter `{2, ms until the soonest
 *   lease ends or -1}`.
 * - Every release (and every grant that leaves permits and waiters) publishes the lock's holder key on the
 *   lock channel, so waiters in every process try again at once instead of polling.
 *
 * KEYS: holders (lh), waiters (lq), waiter liveness (lx), counters (lf). ARGV[1]: lock channel, ARGV[2]:
 * operation, then its arguments. Replies are arrays of integers; errors are `SKV <code> 0 <detail>`.
 */
export const LOCK_LUA = `
local LH, LQ, LX, LF = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local CH, OP = ARGV[1], ARGV[2]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local function clean()
  redis.call('ZREMRANGEBYSCORE', LH, '-inf', now)
  local gone = redis.call('ZRANGEBYSCORE', LX, '-inf', now)
  for j = 1, #gone do
    redis.call('ZREM', LQ, gone[j])
    redis.call('ZREM', LX, gone[j])
  end
end

local function idle()
  if redis.call('ZCARD', LH) == 0 and redis.call('ZCARD', LQ) == 0 then redis.call('HDEL', LF, 'm') end
end

local function notify()
  if CH ~= '' then redis.call('PUBLISH', CH, LH) end
end

-- Milliseconds until the soonest lease ends (when a permit may free without a release), or -1.
local function next_end()
  local first = redis.call('ZRANGE', LH, 0, 0, 'WITHSCORES')
  if #first == 0 then return -1 end
  return math.max(0, tonumber(first[2]) - now)
end

if OP == 'acquire' then
  -- waiter id, ttl, liveness, limit, may wait (1/0)
  local id, ttl, live, limit, may_wait = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
  clean()
  local m = redis.call('HGET', LF, 'm')
  local holders = redis.call('ZCARD', LH)
  local queued = redis.call('ZCARD', LQ)
  if m and tonumber(m) ~= limit and (holders > 0 or queued > 0) then
    return redis.error_reply('SKV BAD_ARGUMENT 0 ' .. m)
  end
  local rank = redis.call('ZRANK', LQ, id)
  local free = limit - holders
  if free > 0 and ((rank == false and queued == 0) or (rank ~= false and rank < free)) then
    local token = redis.call('HINCRBY', LF, 't', 1)
    redis.call('HSET', LF, 'm', limit)
    redis.call('ZADD', LH, now + math.min(ttl, live), token)
    if rank ~= false then
      redis.call('ZREM', LQ, id)
      redis.call('ZREM', LX, id)
      if free > 1 and queued > 1 then notify() end
    end
    return {1, token, now + ttl}
  end
  if may_wait ~= '1' then
    idle()
    return {0}
  end
  if rank == false then
    redis.call('ZADD', LQ, redis.call('HINCRBY', LF, 'q', 1), id)
    redis.call('HSET', LF, 'm', limit)
  end
  redis.call('ZADD', LX, now + live, id)
  return {2, next_end()}
elseif OP == 'leave' then
  local id = ARGV[3]
  local was = redis.call('ZREM', LQ, id)
  redis.call('ZREM', LX, id)
  clean()
  idle()
  if was == 1 then notify() end
  return {was}
elseif OP == 'release' then
  local score = redis.call('ZSCORE', LH, ARGV[3])
  redis.call('ZREM', LH, ARGV[3])
  clean()
  idle()
  if score then notify() end
  if score and tonumber(score) > now then return {1} end
  return {0}
elseif OP == 'extend' then
  -- token, new lease (ms from now), liveness: answers {1, lease end} or {0}
  local score = redis.call('ZSCORE', LH, ARGV[3])
  if not score or tonumber(score) <= now then return {0} end
  local ms, live = tonumber(ARGV[4]), tonumber(ARGV[5])
  redis.call('ZADD', LH, 'XX', now + math.min(ms, live), ARGV[3])
  return {1, now + ms}
elseif OP == 'renew' then
  -- token, lease end the holder asked for (Redis clock), liveness: answers {1, more renewals needed} or {0}
  local score = redis.call('ZSCORE', LH, ARGV[3])
  if not score or tonumber(score) <= now then return {0} end
  local deadline, live = tonumber(ARGV[4]), tonumber(ARGV[5])
  local until_ = math.min(deadline, now + live)
  redis.call('ZADD', LH, 'XX', until_, ARGV[3])
  if until_ < deadline then return {1, 1} end
  return {1, 0}
end
return redis.error_reply('SKV PROTOCOL 0 ' .. tostring(OP))
`;
