/* calib_internal.h: helpers shared by the calib/ sources (file reading, the error call of
 * dispatch/ksa_internal.h). Not installed. */
#ifndef KSA_CALIB_INTERNAL_H
#define KSA_CALIB_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "ksa/ksa.h"
#include "ksa/ksa_calib.h"
#include "ksa_internal.h"

/* Read a whole file into a NUL-terminated malloc'd buffer (IO_ERROR with a sentence on failure). */
ksa_status ksa_calib_read_file(const char *path, char **bytes, size_t *size);

/* Tensor-parallel shards (ksa_calib_plan): `code` with a sentence prefixed by `what` unless
 * num_shards is in 1..num_kv_heads and divides it. */
ksa_status ksa_calib_check_shards(const char *what, int32_t num_kv_heads, int32_t num_shards, ksa_status code);
/* First KV head of head g's shard when shards hold shard_size heads each. */
static inline int32_t ksa_calib_shard_first(int32_t g, int32_t shard_size) { return g - g % shard_size; }

#endif /* KSA_CALIB_INTERNAL_H */
