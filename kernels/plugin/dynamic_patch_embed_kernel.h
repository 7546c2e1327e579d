// CUDA launcher for DynamicPatchEmbed: out = conv2d(pixels, weight * weight_scale, bias * bias_scale,
// stride, padding), computed as implicit patchify + GEMM with fp32 accumulation.
//
// Free of TensorRT headers on purpose, so the kernel compiles and can be checked (nvcc -c) on a machine
// without TensorRT. The index arithmetic and rounding follow kernels/reference.py, the specification.
#pragma once

#include <cstdint>
#include <cuda_runtime_api.h>

namespace trtbench
{

enum class PatchEmbedDType : int32_t
{
    kFLOAT32 = 0,
    kFLOAT16 = 1,
};

struct PatchEmbedParams
{
    int64_t batch;    // B
    int64_t channels; // C, the runtime band count
    int64_t height;   // H
    int64_t width;    // W
    int64_t dim;      // D, embedding channels
    int64_t outH;     // Ho = (H + 2p - k) / stride + 1
    int64_t outW;     // Wo
    int32_t kernelSize;
    int32_t stride;
    int32_t padding;
    float weightScale;
    float biasScale;
};

// pixels [B,C,H,W] and out [B,D,Ho,Wo] in pixelsType; weight [D,C,k,k] and bias [D] in pixelsType or
// float32; all contiguous on the device. Returns cudaErrorInvalidValue for an unsupported dtype mix,
// otherwise the launch status. Asynchronous on `stream`.
cudaError_t launchPatchEmbed(void const* pixels, PatchEmbedDType pixelsType, void const* weight,
    PatchEmbedDType weightType, void const* bias, PatchEmbedDType biasType, void* out, PatchEmbedParams const& params,
    cudaStream_t stream);

} // namespace trtbench
