/* The two Lua scripts of the Redis broker (broker_redis.c), loaded with
 * SCRIPT LOAD and run by EVALSHA: each runs atomically, so a publish's
 * number, history entry and feed message can never disagree, and a read
 * sees a publish either in the history or, later, on the feed.
 * KEYS[1] = pp:{name}:meta (epoch, seq), KEYS[2] = pp:{name}:hist. */
#ifndef PUSHPULL_BROKER_LUA_H
#define PUSHPULL_BROKER_LUA_H

/* A channel's state is created by whichever script meets it first, with a
 * fresh epoch (the creator's clock, µs: larger for later, as PROTOCOL.md
 * promises); a history left from an older state would break XADD's ids. */
#define BROKER_LUA_CREATE \
    "if redis.call('HSETNX', KEYS[1], 'epoch', ARGV[1]) == 1 then\n" \
    "  redis.call('DEL', KEYS[2])\n" \
    "end\n"

/* ARGV: fresh epoch, MAXLEN, ts, data, feed channel. Returns {id, epoch}. */
#define BROKER_LUA_PUBLISH BROKER_LUA_CREATE \
    "local n = redis.call('HINCRBY', KEYS[1], 'seq', 1)\n" \
    "local e = redis.call('HGET', KEYS[1], 'epoch')\n" \
    "local id = string.format('%d', n)\n" \
    "redis.call('XADD', KEYS[2], 'MAXLEN', '=', ARGV[2], id .. '-0', 't', ARGV[3], 'd', ARGV[4])\n" \
    "redis.call('PUBLISH', ARGV[5], e .. ':' .. id .. ':' .. ARGV[3] .. ':' .. ARGV[4])\n" \
    "return {n, e}\n"

/* ARGV: fresh epoch, the cache's epoch (0: none), the cache's last id,
 * COUNT. Returns {epoch, seq, entries after the cache's last id, newest
 * first} - all of them when the epoch is not the cache's. XREVRANGE with
 * COUNT takes the newest: an older instance may keep a longer history. */
#define BROKER_LUA_FILL BROKER_LUA_CREATE \
    "local m = redis.call('HMGET', KEYS[1], 'epoch', 'seq')\n" \
    "local since = ARGV[3]\n" \
    "if m[1] ~= ARGV[2] then since = '0' end\n" \
    "local h = redis.call('XREVRANGE', KEYS[2], '+', '(' .. since .. '-0', 'COUNT', ARGV[4])\n" \
    "return {m[1], m[2] or '0', h}\n"

#endif
