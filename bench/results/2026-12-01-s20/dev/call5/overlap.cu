/* overlap.cu (twentieth session, call 5): do the H200's tensor cores (wgmma) and MUFU (ex2) run at the
 * same time? One CTA per SM, three warpgroups; warpgroup 1 runs bf16 m64n128k16 wgmma products from
 * shared memory (the lse pass's Q K^T step: 8 per 64 x 128 x 128 product), warpgroup 2 runs chains of
 * ex2.approx (64 independent per thread, the lse step's exponentials), alone or together; also one
 * warpgroup doing both, its exponentials issued while its own product is in flight; and both consumer
 * warpgroups running the lse step's shape (product, wait, exponentials of its result). Prints cycles
 * per SM for each case and per unit of work (one product and/or 8192 exponentials). Build: nvcc -O3 -gencode=arch=compute_90a,code=sm_90a -std=c++17 -I<repo>/backends/cuda overlap.cu */
#include <cstdio>
#include <cstdint>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
typedef __half ksa_f16;
typedef __nv_bfloat16 ksa_bf16;
#include "sm90_wgmma.cuh"

static __device__ __forceinline__ uint64_t desc(uint32_t saddr)
{
    return (uint64_t)((saddr & 0x3FFFFu) >> 4) | ((uint64_t)1 << 16) | ((uint64_t)(1024 >> 4) << 32) | (1ull << 62);
}
static __device__ __forceinline__ float ex2(float x)
{
    float y;
    asm volatile("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
    return y;
}

/* mode bit 1: warpgroup 1 runs n_mma products; bit 2: warpgroup 2 runs n_exp rounds of 64 ex2 per
 * thread; bit 4: warpgroup 1 runs both, each product's exponentials while it is in flight */
__global__ void __launch_bounds__(384, 1) overlap(int mode, int n_mma, int n_exp, float *sink, long long *cycles)
{
    extern __shared__ __align__(1024) unsigned char smem[];
    const int wg = threadIdx.x / 128;
    const uint32_t base = ((uint32_t)__cvta_generic_to_shared(smem) + 1023) & ~1023u;
    for (int i = threadIdx.x; i < (64 + 128) * 128 / 4; i += blockDim.x) ((float *)(smem + (base - (uint32_t)__cvta_generic_to_shared(smem))))[i] = 0.f;
    __syncthreads();
    long long t0 = clock64();
    float acc[64];
    for (int i = 0; i < 64; i++) acc[i] = 0.f;
    float x[64];
    for (int i = 0; i < 64; i++) x[i] = -1.f - 0.001f * (threadIdx.x % 7) - i * 1e-4f;
    float s = 0.f;
    const uint32_t qa = base, kb = base + 64 * 128 * 2;
    auto product = [&]() {
        asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#pragma unroll
        for (int kk = 0; kk < 8; kk++)
            kc_wgmma_ss<128, ksa_bf16>::run(acc, desc(qa + (kk / 4) * 64 * 128 + (kk % 4) * 32), desc(kb + (kk / 4) * 128 * 128 + (kk % 4) * 32), 1);
        asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
    };
    auto exps = [&]() {
#pragma unroll
        for (int i = 0; i < 64; i++) {
            x[i] = ex2(x[i]) - 1.5f; /* stays in (-1.5, -0.5) */
            s += x[i];
        }
    };
    if (wg == 1 && (mode & 1)) {
        for (int it = 0; it < n_mma; it++) {
            product();
            asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
        }
    }
    if (wg == 2 && (mode & 2)) {
        for (int it = 0; it < n_exp; it++) exps();
    }
    if (wg == 1 && (mode & 4)) {
        for (int it = 0; it < n_mma; it++) {
            product();
            exps();
            asm volatile("st.shared.f32 [%0], %1;\n" ::"r"(base + 60000 + (threadIdx.x % 128) * 4), "f"(s) : "memory");
            asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
        }
    }
    /* modes 8 / 16 / 32: both consumer warpgroups run the lse step's shape, n_mma / 2 steps each:
     *  8: one product into acc, wait, 64 exponentials of acc per thread (+ their sum);
     * 16: the same with the row maximum first (two FMNMX chains), as the softmax does;
     * 32: two products (the two 64-row halves) into acc and acc1, wait, 128 exponentials per thread */
    if ((wg == 1 || wg == 2) && (mode & (8 | 16 | 32))) {
        float acc1[64];
        for (int i = 0; i < 64; i++) acc1[i] = 0.f;
        const float c = 1.4427f;
        float mrun = -1e30f, l = 0.f;
        for (int it = 0; it < n_mma / 2; it++) {
            asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#pragma unroll
            for (int kk = 0; kk < 8; kk++)
                kc_wgmma_ss<128, ksa_bf16>::run(acc, desc(qa + (kk / 4) * 64 * 128 + (kk % 4) * 32), desc(kb + (kk / 4) * 128 * 128 + (kk % 4) * 32), kk > 0);
            asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
            if (mode & 32) {
#pragma unroll
                for (int kk = 0; kk < 8; kk++)
                    kc_wgmma_ss<128, ksa_bf16>::run(acc1, desc(qa + (kk / 4) * 64 * 128 + (kk % 4) * 32), desc(kb + (kk / 4) * 128 * 128 + (kk % 4) * 32), kk > 0);
                asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
            }
            asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
            float mx0 = mrun, mx1 = mrun;
            if (mode & 16) {
#pragma unroll
                for (int i = 0; i < 64; i += 2) { mx0 = fmaxf(mx0, acc[i]); mx1 = fmaxf(mx1, acc[i + 1]); }
                mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
                mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
            }
            const float base = (mode & 16) ? fmaxf(mx0, mx1) * c : 0.f;
            float sum = 0.f;
#pragma unroll
            for (int i = 0; i < 64; i++) sum += ex2(fmaf(acc[i], c, -base));
            if (mode & 32) {
#pragma unroll
                for (int i = 0; i < 64; i++) sum += ex2(fmaf(acc1[i], c, -base));
            }
            l += sum;
            mrun = base;
        }
        s += l + acc1[3];
    }
    long long t1 = clock64();
    float r = s;
    for (int i = 0; i < 64; i++) r += acc[i];
    if (r == 12345.f) sink[threadIdx.x] = r;
    __syncthreads();
    if (threadIdx.x % 128 == 0) atomicMax((unsigned long long *)&cycles[blockIdx.x], (unsigned long long)(t1 - t0));
}

int main()
{
    int sms = 0;
    cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
    const int smem = 200 * 1024;
    cudaFuncSetAttribute(overlap, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
    float *sink;
    long long *cyc;
    cudaMalloc(&sink, 4096);
    cudaMalloc(&cyc, sms * sizeof(long long));
    long long *h = new long long[sms];
    const int n_mma = 2000, n_exp = 2000;
    struct { int mode; const char *what; } cases[] = {{1, "tensor only (wg1: products)"}, {2, "MUFU only (wg2: exps)"},
        {3, "both, separate warpgroups"}, {4, "both, one warpgroup (exps under its own product)"},
        {8, "lse-like: 2 wgs x (product, wait, 64 exps)"}, {24, "lse-like with the row max"}, {56, "lse step: 2 wgs x (2 products, wait, max, 128 exps)"}};
    for (int rep = 0; rep < 2; rep++)
        for (auto &c : cases) {
            cudaMemset(cyc, 0, sms * sizeof(long long));
            overlap<<<sms, 384, smem>>>(c.mode, n_mma, n_exp, sink, cyc);
            cudaError_t e = cudaDeviceSynchronize();
            cudaMemcpy(h, cyc, sms * sizeof(long long), cudaMemcpyDeviceToHost);
            long long mx = 0;
            double avg = 0;
            for (int i = 0; i < sms; i++) { mx = h[i] > mx ? h[i] : mx; avg += h[i]; }
            avg /= sms;
            /* modes 1-4: n_mma units (a product and 8192 exponentials); 8, 24: n_mma units over two
             * warpgroups; 56: 2 n_mma units */
            const double units = c.mode == 56 ? 2.0 * n_mma : (double)n_mma;
            printf("round %d mode %2d %-52s %s: %.0f cycles per SM (max %lld); %.0f per unit (one 64x128x128 product and/or 8192 exps)\n", rep,
                   c.mode, c.what, cudaGetErrorString(e), avg, mx, avg / units);
        }
    return 0;
}
