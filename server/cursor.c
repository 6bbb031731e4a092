#include "cursor.h"

#include "bus.h"

bool cursor_stale(const struct cursor *c, const struct bus_channel *ch, uint64_t epoch)
{
    if (!c->has_since)
        return false;
    return (c->has_epoch && c->epoch != epoch) || c->since > bus_last_id(ch);
}
