"""The frontier's Lua scripts (one atomic step each; see :mod:`crawler.distributed.frontier`).

Keys are ``<prefix>:queue`` (a sorted set: payload -> score, score =
-priority * 1e10 + a sequence number), ``leases`` (token -> expiry),
``leasedata`` (token -> payload), ``leaseprio`` (token -> score), ``seen``
(identities), ``columns:<infoCode>``, ``emitted`` (infoCodes handed off), ``stats``.
"""

from __future__ import annotations

from crawler.distributed.codec import RELEASE_LUA

ACK_LUA = (
    RELEASE_LUA
    + """
local function ack(P, tok)
  local data = redis.call('HGET', P .. ':leasedata', tok)
  if not data then return 0 end
  release(P, data)
  redis.call('ZREM', P .. ':leases', tok)
  redis.call('HDEL', P .. ':leasedata', tok)
  redis.call('ZREM', P .. ':leaseprio', tok)
  return 1
end
local function enqueue(P, prio, payload)
  local seq = redis.call('INCR', P .. ':seq')
  redis.call('ZADD', P .. ':queue', -tonumber(prio) * 1e10 + seq, payload)
end
"""
)

# KEYS[1] prefix; ARGV: identity ('' = none), priority, payload, columns key
# ('' = none), infoCode, column... Returns 1 pushed, 0 a duplicate, 2 a duplicate
# that lists an article already handed off in a new column (to fetch again).
PUSH_LUA = (
    ACK_LUA
    + """
local P = KEYS[1]
local added = 0
if ARGV[4] ~= '' then
  for i = 6, #ARGV do added = added + redis.call('SADD', ARGV[4], ARGV[i]) end
end
if ARGV[1] ~= '' and redis.call('SADD', P .. ':seen', ARGV[1]) == 0 then
  -- Run twice (the reply lost in a Redis restart, the call retried): pushed.
  if redis.call('ZSCORE', P .. ':queue', ARGV[3]) then return 1 end
  if added > 0 and redis.call('SISMEMBER', P .. ':emitted', ARGV[5]) == 1 then return 2 end
  return 0
end
enqueue(P, ARGV[2], ARGV[3])
return 1
"""
)

# KEYS[1] prefix; ARGV: old lease, priority, payload.
CONTINUE_LUA = ACK_LUA + "enqueue(KEYS[1], ARGV[2], ARGV[3])\nreturn ack(KEYS[1], ARGV[1])\n"

# KEYS[1] prefix; ARGV: lease seconds, barrier score. Expired leases first go
# back to the queue; a request below the barrier waits while one above it is leased.
POP_LUA = """
local P = KEYS[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
for _, tok in ipairs(redis.call('ZRANGEBYSCORE', P .. ':leases', '-inf', now, 'LIMIT', 0, 100)) do
  local data = redis.call('HGET', P .. ':leasedata', tok)
  if data then redis.call('ZADD', P .. ':queue', redis.call('ZSCORE', P .. ':leaseprio', tok), data) end
  redis.call('ZREM', P .. ':leases', tok)
  redis.call('HDEL', P .. ':leasedata', tok)
  redis.call('ZREM', P .. ':leaseprio', tok)
  redis.call('HINCRBY', P .. ':stats', 'requeued', 1)
end
local r = redis.call('ZRANGE', P .. ':queue', 0, 0, 'WITHSCORES')
if #r == 0 then return false end
local barrier = tonumber(ARGV[2])
if tonumber(r[2]) > barrier and #redis.call('ZRANGEBYSCORE', P .. ':leaseprio', '-inf', barrier, 'LIMIT', 0, 1) > 0 then
  return false
end
redis.call('ZREM', P .. ':queue', r[1])
local tok = tostring(redis.call('INCR', P .. ':leaseseq'))
redis.call('ZADD', P .. ':leases', now + tonumber(ARGV[1]), tok)
redis.call('HSET', P .. ':leasedata', tok, r[1])
redis.call('ZADD', P .. ':leaseprio', r[2], tok)
return {tok, r[1]}
"""
