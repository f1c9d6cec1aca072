/* Repacking a loaded model's weight matrices for the GEMM kernels (tensor/gemm.h). The packed copies
 * replace the file mapping for the products (same size as the weights they copy); the embedding
 * lookup keeps reading the mapping. KUMO_PACK=0 in the environment turns packing off. */
#ifndef KUMO_MODEL_PACK_H
#define KUMO_MODEL_PACK_H

#include "model/model.h"

/* Packs every matrix whose type has packed kernels. A matrix that cannot be packed (type, or out of
 * memory) keeps its mapped rows: matmul handles both, so this cannot fail. */
void model_pack_weights(kumo_model *m);
void model_free_packed(kumo_model *m);

#endif
