/* hip_ops_main.c: standalone runner of the HIP op cases (hip_cases.c) for machines without cmocka:
 * opens the device named by argv[1] (default "hip:0"), runs the full grid, the backend edges and the
 * created-stream case, prints a summary line and exits non-zero on any failure (2 when the device
 * is absent). Built by backends/hip/nvidia/run-hip-nvidia.sh. */
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
    printf("running the standard grid\n");
    int grid = khip_standard_grid(dev, 0);
    printf("running the backend edges\n");
    int edges = khip_backend_edges(dev);
    printf("running the created-stream case\n");
    int stream = khip_created_stream(dev);
    printf("hip ops on %s: grid %d failed, edges %d failed, created stream %d failed\n", name, grid, edges, stream);
    return grid + edges + stream ? 1 : 0;
}
