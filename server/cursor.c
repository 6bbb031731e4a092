#include "cursor.h"

#include <stdio.h>

#include "bus.h"

bool cursor_stale(const struct cursor *c, const struct bus_channel *ch, uint64_t epoch)
{
    if (!c->has_since)
        return false;
    return (c->has_epoch && c->epoch != epoch) || c->since > bus_last_id(ch);
}

int cursor_hello(char *buf, uint64_t epoch, uint64_t last_id)
{
    return snprintf(buf, CURSOR_MARKER_MAX, "{\"hello\":true,\"epoch\":%llu,\"last_id\":%llu}",
                    (unsigned long long)epoch, (unsigned long long)last_id);
}

int cursor_reset(char *buf, uint64_t epoch, uint64_t since, uint64_t last_id)
{
    return snprintf(buf, CURSOR_MARKER_MAX,
                    "{\"reset\":true,\"epoch\":%llu,\"since\":%llu,\"last_id\":%llu}",
                    (unsigned long long)epoch, (unsigned long long)since,
                    (unsigned long long)last_id);
}

int cursor_gap(char *buf, uint64_t since, uint64_t first, uint64_t lost)
{
    return snprintf(buf, CURSOR_MARKER_MAX,
                    "{\"gap\":true,\"since\":%llu,\"first_id\":%llu,\"lost\":%llu}",
                    (unsigned long long)since, (unsigned long long)first,
                    (unsigned long long)lost);
}
