/* main.c: a downstream program using the installed ksa: opens the reference device and prints it. */
#include <ksa/ksa.h>
#include <stdio.h>

int main(void)
{
    ksa_context ctx;
    ksa_device dev;
    if (ksa_context_create(&ctx) != KSA_STATUS_SUCCESS) return 1;
    if (ksa_device_open(ctx, "reference", &dev) != KSA_STATUS_SUCCESS) return 2;
    printf("consumer: ksa %s, reference device found\n", ksa_version_string());
    ksa_context_destroy(ctx);
    return ksa_version() == KSA_VERSION_NUMBER ? 0 : 3;
}
