/* The dialects the client speaks, by name. */
#include <stdio.h>
#include <string.h>

#include "dialect.h"

static const struct dialect *const all[] = { &dialect_pushpull, &dialect_nchan, &dialect_socketio,
                                              &dialect_pushpin };

const struct dialect *dialect_of(const struct client_config *cfg)
{
    return cfg->dialect ? cfg->dialect : &dialect_pushpull;
}

const struct dialect *dialect_find(const char *name)
{
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(all[i]->name, name) == 0)
            return all[i];
    return NULL;
}

const char *dialect_names(void)
{
    static char names[96];            /* built once from the table */
    if (names[0])
        return names;
    for (size_t i = 0, n = 0; i < sizeof all / sizeof all[0]; i++)
        n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", i ? "|" : "", all[i]->name);
    return names;
}
