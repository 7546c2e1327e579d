// TensorRT IPluginV3 plugin "DynamicPatchEmbed" (version "1", namespace "trtbench").
//
// Clay's and DOFA's patch embedding is a stride == kernel convolution whose weight is generated at run
// time from the band wavelengths, so the band count C is a runtime value. A TensorRT convolution needs C at
// build time; this plugin takes pixels [B,C,H,W], weight [D,C,k,k] and bias [D] as runtime tensors and
// computes conv2d(pixels, weight * weight_scale, bias * bias_scale, stride, padding) -> [B,D,Ho,Wo] with
// fp32 accumulation (kernels/reference.py is the specification).
//
// Attributes (ONNX node attributes of the same names): kernel_size, stride, padding (INT32),
// weight_scale, bias_scale (FLOAT32). Clay: 8, 8, 0, 0.02, 1.0. DOFA: 16, 16, 1, 0.01, 0.01.
#pragma once

#include <NvInferRuntime.h>

#include <vector>

#if NV_TENSORRT_MAJOR < 10
#error "DynamicPatchEmbed implements IPluginV3, which needs TensorRT 10 or newer"
#endif

namespace trtbench
{

constexpr char const* kPluginName = "DynamicPatchEmbed";
constexpr char const* kPluginVersion = "1";
constexpr char const* kPluginNamespace = "trtbench";

struct PatchEmbedAttributes
{
    int32_t kernelSize;
    int32_t stride;
    int32_t padding;
    float weightScale;
    float biasScale;
};

class DynamicPatchEmbedPlugin final : public nvinfer1::IPluginV3,
                                      public nvinfer1::IPluginV3OneCore,
                                      public nvinfer1::IPluginV3OneBuild,
                                      public nvinfer1::IPluginV3OneRuntime
{
public:
    explicit DynamicPatchEmbedPlugin(PatchEmbedAttributes const& attributes);
    // Copies would alias mSerialFields' pointers into the source object; clone() builds fresh instead.
    DynamicPatchEmbedPlugin(DynamicPatchEmbedPlugin const&) = delete;
    DynamicPatchEmbedPlugin& operator=(DynamicPatchEmbedPlugin const&) = delete;
    ~DynamicPatchEmbedPlugin() override = default;

    // IPluginV3
    nvinfer1::IPluginCapability* getCapabilityInterface(nvinfer1::PluginCapabilityType type) noexcept override;
    nvinfer1::IPluginV3* clone() noexcept override;

    // IPluginV3OneCore
    char const* getPluginName() const noexcept override;
    char const* getPluginVersion() const noexcept override;
    char const* getPluginNamespace() const noexcept override;

    // IPluginV3OneBuild
    int32_t configurePlugin(nvinfer1::DynamicPluginTensorDesc const* in, int32_t nbInputs,
        nvinfer1::DynamicPluginTensorDesc const* out, int32_t nbOutputs) noexcept override;
    int32_t getOutputDataTypes(nvinfer1::DataType* outputTypes, int32_t nbOutputs,
        nvinfer1::DataType const* inputTypes, int32_t nbInputs) const noexcept override;
    int32_t getOutputShapes(nvinfer1::DimsExprs const* inputs, int32_t nbInputs, nvinfer1::DimsExprs const* shapeInputs,
        int32_t nbShapeInputs, nvinfer1::DimsExprs* outputs, int32_t nbOutputs,
        nvinfer1::IExprBuilder& exprBuilder) noexcept override;
    bool supportsFormatCombination(int32_t pos, nvinfer1::DynamicPluginTensorDesc const* inOut, int32_t nbInputs,
        int32_t nbOutputs) noexcept override;
    int32_t getNbOutputs() const noexcept override;

    // IPluginV3OneRuntime
    int32_t onShapeChange(nvinfer1::PluginTensorDesc const* in, int32_t nbInputs, nvinfer1::PluginTensorDesc const* out,
        int32_t nbOutputs) noexcept override;
    int32_t enqueue(nvinfer1::PluginTensorDesc const* inputDesc, nvinfer1::PluginTensorDesc const* outputDesc,
        void const* const* inputs, void* const* outputs, void* workspace, cudaStream_t stream) noexcept override;
    nvinfer1::IPluginV3* attachToContext(nvinfer1::IPluginResourceContext* context) noexcept override;
    nvinfer1::PluginFieldCollection const* getFieldsToSerialize() noexcept override;

private:
    PatchEmbedAttributes mAttributes;
    std::vector<nvinfer1::PluginField> mSerialFields;
    nvinfer1::PluginFieldCollection mSerialFieldCollection{};
};

class DynamicPatchEmbedPluginCreator final : public nvinfer1::IPluginCreatorV3One
{
public:
    DynamicPatchEmbedPluginCreator();

    char const* getPluginName() const noexcept override;
    char const* getPluginVersion() const noexcept override;
    char const* getPluginNamespace() const noexcept override;
    nvinfer1::PluginFieldCollection const* getFieldNames() noexcept override;
    nvinfer1::IPluginV3* createPlugin(
        char const* name, nvinfer1::PluginFieldCollection const* fc, nvinfer1::TensorRTPhase phase) noexcept override;

private:
    std::vector<nvinfer1::PluginField> mFieldNames;
    nvinfer1::PluginFieldCollection mFieldNameCollection{};
};

} // namespace trtbench
