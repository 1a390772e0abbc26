/* hip_ops_main.c: standalone runner of the HIP backend's own op cases (hip_cases.c) for machines
 * without cmocka: opens the device named by argv[1] (default "hip:0"), runs the backend edges and
 * the created-stream case, prints a summary line and exits non-zero on any failure (2 when the
 * device is absent). Built by scripts/device/hip-nvidia/run-hip-nvidia.sh, which runs the shared
 * grid on the same device through tests/backends/test_backends. */
#include <stdio.h>

#include "hip_cases.h"
#include "test_util.h"

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* keep every line if the process dies */
    const char *name = argc > 1 ? argv[1] : "hip:0";
    ksa_device dev = ktest_open_device(name);
    if (!dev) return 2;
    ksa_device_info info;
    if (ksa_device_get_info(dev, &info) == KSA_STATUS_SUCCESS)
        printf("device %s: %s, isa %s, %d compute units, %s\n", info.name, info.description, info.isa,
               info.compute_units, info.driver_version);
    printf("running the backend edges\n");
    int edges = khip_backend_edges(dev);
    printf("running the created-stream case\n");
    int stream = khip_created_stream(dev);
    printf("hip ops on %s: edges %d failed, created stream %d failed\n", name, edges, stream);
    return edges + stream ? 1 : 0;
}
