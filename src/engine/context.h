/* Engine internals beyond the public API, for tests, tools and the server's metrics. */
#ifndef KUMO_ENGINE_CONTEXT_H
#define KUMO_ENGINE_CONTEXT_H
#include <stdint.h>

#include "kumo.h"

/* MoE: experts chosen for each entry of the last batch: [entry][layer][n_expert_used], best first.
 * NULL for dense models. */
const int32_t *kumo_context_last_routing(const kumo_context *ctx);
/* MoE: tokens routed to each expert since the context was created: [layer][expert]. */
const uint64_t *kumo_context_expert_counts(const kumo_context *ctx);
#endif
