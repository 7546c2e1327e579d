// Tiled implicit-GEMM kernel for DynamicPatchEmbed; see dynamic_patch_embed_kernel.h and
// kernels/reference.py for the contract.
//
// GEMM view: rows m = (b*Ho + oh)*Wo + ow (M = B*Ho*Wo), columns n (N = D), reduction kk = (c*k + i)*k + j
// (K = C*k*k). Each 256-thread block computes a 64x64 output tile; every K step stages a 64x16 patch tile
// (gathered straight from the image, zero in the padding) and a 16x64 weight tile in shared memory.
#include "dynamic_patch_embed_kernel.h"

#include <cuda_fp16.h>

namespace trtbench
{
namespace
{

constexpr int kTileM = 64;
constexpr int kTileN = 64;
constexpr int kTileK = 16;
constexpr int kThreadsPerSide = 16; // 16 x 16 threads, each owning a 4 x 4 sub-tile
constexpr int kThreads = kThreadsPerSide * kThreadsPerSide;
constexpr int kPerThread = kTileM / kThreadsPerSide;

__device__ __forceinline__ float toFloat(float v)
{
    return v;
}

__device__ __forceinline__ float toFloat(__half v)
{
    return __half2float(v);
}

// Rounds a value to the GEMM operand type T (the pixels dtype), as reference.py does with
// weight.to(pixels.dtype); products of two such values are exact in fp32.
template <typename T>
__device__ __forceinline__ float roundToOperand(float v);

template <>
__device__ __forceinline__ float roundToOperand<float>(float v)
{
    return v;
}

template <>
__device__ __forceinline__ float roundToOperand<__half>(float v)
{
    return __half2float(__float2half_rn(v));
}

__device__ __forceinline__ void store(float* p, float v)
{
    *p = v;
}

__device__ __forceinline__ void store(__half* p, float v)
{
    *p = __float2half_rn(v);
}

// Two resident blocks per SM: lets ptxas keep the 16 accumulators and index math in registers (sm_80,
// CUDA 13: 76 registers, no spills; a bare one-argument bound spilled).
template <typename T, typename TW, typename TB>
__global__ void __launch_bounds__(kThreads, 2) patchEmbedKernel(
    T const* __restrict__ pixels, TW const* __restrict__ weight, TB const* __restrict__ bias, T* __restrict__ out,
    PatchEmbedParams p)
{
    __shared__ float patchTile[kTileK][kTileM];
    __shared__ float weightTile[kTileK][kTileN];

    int64_t const k = p.kernelSize;
    int64_t const numM = p.batch * p.outH * p.outW;
    int64_t const numK = p.channels * k * k;
    int64_t const mBase = static_cast<int64_t>(blockIdx.x) * kTileM;
    int64_t const nBase = static_cast<int64_t>(blockIdx.y) * kTileN;
    int const tid = threadIdx.y * kThreadsPerSide + threadIdx.x;

    // Rows tx + 16*i, columns ty + 16*j: neighbouring threads own neighbouring output positions, so the
    // final stores to out[b, n, oh, ow] are contiguous.
    float acc[kPerThread][kPerThread] = {};

    for (int64_t k0 = 0; k0 < numK; k0 += kTileK)
    {
        // Stage the patch tile. Consecutive threads take consecutive kk, i.e. neighbouring pixels of a row.
        for (int e = tid; e < kTileM * kTileK; e += kThreads)
        {
            int const mLocal = e / kTileK;
            int const kLocal = e % kTileK;
            int64_t const m = mBase + mLocal;
            int64_t const kk = k0 + kLocal;
            float value = 0.0F;
            if (m < numM && kk < numK)
            {
                int64_t const b = m / (p.outH * p.outW);
                int64_t const oh = (m / p.outW) % p.outH;
                int64_t const ow = m % p.outW;
                int64_t const c = kk / (k * k);
                int64_t const i = (kk / k) % k;
                int64_t const j = kk % k;
                int64_t const h = oh * p.stride - p.padding + i;
                int64_t const w = ow * p.stride - p.padding + j;
                if (h >= 0 && h < p.height && w >= 0 && w < p.width)
                {
                    value = toFloat(pixels[((b * p.channels + c) * p.height + h) * p.width + w]);
                }
            }
            patchTile[kLocal][mLocal] = value;
        }
        // Stage the weight tile: weight viewed as [D, K], rounded to the operand type.
        for (int e = tid; e < kTileN * kTileK; e += kThreads)
        {
            int const nLocal = e / kTileK;
            int const kLocal = e % kTileK;
            int64_t const n = nBase + nLocal;
            int64_t const kk = k0 + kLocal;
            float value = 0.0F;
            if (n < p.dim && kk < numK)
            {
                value = roundToOperand<T>(toFloat(weight[n * numK + kk]));
            }
            weightTile[kLocal][nLocal] = value;
        }
        __syncthreads();

#pragma unroll
        for (int kLocal = 0; kLocal < kTileK; ++kLocal)
        {
            float a[kPerThread];
            float w[kPerThread];
#pragma unroll
            for (int r = 0; r < kPerThread; ++r)
            {
                a[r] = patchTile[kLocal][threadIdx.x + kThreadsPerSide * r];
                w[r] = weightTile[kLocal][threadIdx.y + kThreadsPerSide * r];
            }
#pragma unroll
            for (int r = 0; r < kPerThread; ++r)
            {
#pragma unroll
                for (int s = 0; s < kPerThread; ++s)
                {
                    acc[r][s] = fmaf(a[r], w[s], acc[r][s]);
                }
            }
        }
        __syncthreads();
    }

    // Epilogue in fp32: scale the accumulator (not the weight), add the scaled bias, round once.
#pragma unroll
    for (int r = 0; r < kPerThread; ++r)
    {
        int64_t const m = mBase + threadIdx.x + kThreadsPerSide * r;
        if (m >= numM)
        {
            continue;
        }
        int64_t const b = m / (p.outH * p.outW);
        int64_t const pos = m % (p.outH * p.outW); // oh * Wo + ow
#pragma unroll
        for (int s = 0; s < kPerThread; ++s)
        {
            int64_t const n = nBase + threadIdx.y + kThreadsPerSide * s;
            if (n < p.dim)
            {
                float const value = acc[r][s] * p.weightScale + toFloat(bias[n]) * p.biasScale;
                store(&out[(b * p.dim + n) * p.outH * p.outW + pos], value);
            }
        }
    }
}

template <typename T, typename TW, typename TB>
cudaError_t launchTyped(void const* pixels, void const* weight, void const* bias, void* out,
    PatchEmbedParams const& params, cudaStream_t stream)
{
    int64_t const numM = params.batch * params.outH * params.outW;
    if (numM == 0 || params.dim == 0)
    {
        return cudaSuccess;
    }
    dim3 const grid(static_cast<unsigned>((numM + kTileM - 1) / kTileM),
        static_cast<unsigned>((params.dim + kTileN - 1) / kTileN));
    dim3 const block(kThreadsPerSide, kThreadsPerSide);
    patchEmbedKernel<T, TW, TB><<<grid, block, 0, stream>>>(static_cast<T const*>(pixels),
        static_cast<TW const*>(weight), static_cast<TB const*>(bias), static_cast<T*>(out), params);
    return cudaGetLastError();
}

} // namespace

cudaError_t launchPatchEmbed(void const* pixels, PatchEmbedDType pixelsType, void const* weight,
    PatchEmbedDType weightType, void const* bias, PatchEmbedDType biasType, void* out, PatchEmbedParams const& params,
    cudaStream_t stream)
{
    using D = PatchEmbedDType;
    if (pixelsType == D::kFLOAT32 && weightType == D::kFLOAT32 && biasType == D::kFLOAT32)
    {
        return launchTyped<float, float, float>(pixels, weight, bias, out, params, stream);
    }
    if (pixelsType != D::kFLOAT16)
    {
        return cudaErrorInvalidValue;
    }
    // fp16 pixels: weight and bias may each be fp16 or fp32.
    bool const halfWeight = weightType == D::kFLOAT16;
    bool const halfBias = biasType == D::kFLOAT16;
    if (halfWeight && halfBias)
    {
        return launchTyped<__half, __half, __half>(pixels, weight, bias, out, params, stream);
    }
    if (halfWeight)
    {
        return launchTyped<__half, __half, float>(pixels, weight, bias, out, params, stream);
    }
    if (halfBias)
    {
        return launchTyped<__half, float, __half>(pixels, weight, bias, out, params, stream);
    }
    return launchTyped<__half, float, float>(pixels, weight, bias, out, params, stream);
}

} // namespace trtbench
