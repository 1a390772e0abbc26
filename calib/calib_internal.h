/* calib_internal.h: helpers shared by the calib/ sources (file reading, the error call of
 * dispatch/ksa_internal.h). Not installed. */
#ifndef KSA_CALIB_INTERNAL_H
#define KSA_CALIB_INTERNAL_H

#include <stddef.h>

#include "ksa/ksa.h"
#include "ksa/ksa_calib.h"
#include "ksa_internal.h"

/* Read a whole file into a NUL-terminated malloc'd buffer (IO_ERROR with a sentence on failure). */
ksa_status ksa_calib_read_file(const char *path, char **bytes, size_t *size);

#endif /* KSA_CALIB_INTERNAL_H */
