// DynamicPatchEmbed plugin: shape/type logic for TensorRT's builder, and the runtime launch.
#include "dynamic_patch_embed_plugin.h"

#include "dynamic_patch_embed_kernel.h"

#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

namespace trtbench
{
namespace
{

using nvinfer1::DataType;
using nvinfer1::DimensionOperation;
using nvinfer1::PluginField;
using nvinfer1::PluginFieldType;

constexpr int32_t kNbInputs = 3; // pixels, weight, bias
constexpr int32_t kNbOutputs = 1;

// Set by TensorRT through setLoggerFinder() when it loads this library; errors go to its logger.
nvinfer1::ILoggerFinder* gLoggerFinder{nullptr};

void logError(std::string const& message) noexcept
{
    std::string const text = std::string(kPluginNamespace) + "::" + kPluginName + ": " + message;
    nvinfer1::ILogger* logger = gLoggerFinder != nullptr ? gLoggerFinder->findLogger() : nullptr;
    if (logger != nullptr)
    {
        logger->log(nvinfer1::ILogger::Severity::kERROR, text.c_str());
    }
    else
    {
        std::fprintf(stderr, "%s\n", text.c_str());
    }
}

bool toKernelType(DataType type, PatchEmbedDType& out) noexcept
{
    switch (type)
    {
    case DataType::kFLOAT: out = PatchEmbedDType::kFLOAT32; return true;
    case DataType::kHALF: out = PatchEmbedDType::kFLOAT16; return true;
    default: return false;
    }
}

// The ONNX parser passes INT attributes as INT32 and FLOAT as FLOAT32; other producers (Python's
// tensorrt.PluginField with numpy scalars) may send 64-bit values, which are accepted as well.
bool readInt(PluginField const& field, int32_t& out) noexcept
{
    if (field.length != 1 || field.data == nullptr)
    {
        return false;
    }
    if (field.type == PluginFieldType::kINT32)
    {
        out = *static_cast<int32_t const*>(field.data);
        return true;
    }
    if (field.type == PluginFieldType::kINT64)
    {
        out = static_cast<int32_t>(*static_cast<int64_t const*>(field.data));
        return true;
    }
    return false;
}

bool readFloat(PluginField const& field, float& out) noexcept
{
    if (field.length != 1 || field.data == nullptr)
    {
        return false;
    }
    if (field.type == PluginFieldType::kFLOAT32)
    {
        out = *static_cast<float const*>(field.data);
        return true;
    }
    if (field.type == PluginFieldType::kFLOAT64)
    {
        out = static_cast<float>(*static_cast<double const*>(field.data));
        return true;
    }
    return false;
}

} // namespace

// ---------------------------------------------------------------------------------------------------------
// DynamicPatchEmbedPlugin

DynamicPatchEmbedPlugin::DynamicPatchEmbedPlugin(PatchEmbedAttributes const& attributes)
    : mAttributes(attributes)
    , mSerialFields{
          PluginField("kernel_size", &mAttributes.kernelSize, PluginFieldType::kINT32, 1),
          PluginField("stride", &mAttributes.stride, PluginFieldType::kINT32, 1),
          PluginField("padding", &mAttributes.padding, PluginFieldType::kINT32, 1),
          PluginField("weight_scale", &mAttributes.weightScale, PluginFieldType::kFLOAT32, 1),
          PluginField("bias_scale", &mAttributes.biasScale, PluginFieldType::kFLOAT32, 1),
      }
{
    mSerialFieldCollection.nbFields = static_cast<int32_t>(mSerialFields.size());
    mSerialFieldCollection.fields = mSerialFields.data();
}

nvinfer1::IPluginCapability* DynamicPatchEmbedPlugin::getCapabilityInterface(
    nvinfer1::PluginCapabilityType type) noexcept
{
    switch (type)
    {
    case nvinfer1::PluginCapabilityType::kCORE: return static_cast<nvinfer1::IPluginV3OneCore*>(this);
    case nvinfer1::PluginCapabilityType::kBUILD: return static_cast<nvinfer1::IPluginV3OneBuild*>(this);
    case nvinfer1::PluginCapabilityType::kRUNTIME: return static_cast<nvinfer1::IPluginV3OneRuntime*>(this);
    }
    return nullptr;
}

nvinfer1::IPluginV3* DynamicPatchEmbedPlugin::clone() noexcept
{
    try
    {
        return new DynamicPatchEmbedPlugin(mAttributes);
    }
    catch (std::exception const& e)
    {
        logError(std::string("clone failed: ") + e.what());
        return nullptr;
    }
}

char const* DynamicPatchEmbedPlugin::getPluginName() const noexcept
{
    return kPluginName;
}

char const* DynamicPatchEmbedPlugin::getPluginVersion() const noexcept
{
    return kPluginVersion;
}

char const* DynamicPatchEmbedPlugin::getPluginNamespace() const noexcept
{
    return kPluginNamespace;
}

int32_t DynamicPatchEmbedPlugin::configurePlugin(nvinfer1::DynamicPluginTensorDesc const* in, int32_t nbInputs,
    nvinfer1::DynamicPluginTensorDesc const* /*out*/, int32_t nbOutputs) noexcept
{
    if (nbInputs != kNbInputs || nbOutputs != kNbOutputs)
    {
        logError("expects 3 inputs (pixels, weight, bias) and 1 output");
        return -1;
    }
    // The weight's spatial size is usually a build-time constant: catch a mismatch before building.
    nvinfer1::Dims const& weight = in[1].desc.dims;
    for (int32_t axis : {2, 3})
    {
        if (weight.d[axis] != -1 && weight.d[axis] != mAttributes.kernelSize)
        {
            logError("weight must be [D, C, kernel_size, kernel_size]");
            return -1;
        }
    }
    return 0;
}

int32_t DynamicPatchEmbedPlugin::getOutputDataTypes(
    DataType* outputTypes, int32_t nbOutputs, DataType const* inputTypes, int32_t nbInputs) const noexcept
{
    if (nbInputs != kNbInputs || nbOutputs != kNbOutputs)
    {
        return -1;
    }
    outputTypes[0] = inputTypes[0]; // the output has the pixels' dtype
    return 0;
}

int32_t DynamicPatchEmbedPlugin::getOutputShapes(nvinfer1::DimsExprs const* inputs, int32_t nbInputs,
    nvinfer1::DimsExprs const* /*shapeInputs*/, int32_t /*nbShapeInputs*/, nvinfer1::DimsExprs* outputs,
    int32_t nbOutputs, nvinfer1::IExprBuilder& exprBuilder) noexcept
{
    if (nbInputs != kNbInputs || nbOutputs != kNbOutputs || inputs[0].nbDims != 4 || inputs[1].nbDims != 4
        || inputs[2].nbDims != 1)
    {
        logError("expects pixels [B,C,H,W], weight [D,C,k,k], bias [D]");
        return -1;
    }
    // Ho = floor((H + 2*padding - kernel_size) / stride) + 1, symbolic so B, H and W stay dynamic.
    // The offset is usually negative (Clay: 0 - 8): subtract a positive constant rather than add a
    // negative one, so no dimension expression ever holds a negative value.
    auto outputSize = [&](nvinfer1::IDimensionExpr const& size) {
        int64_t const offset = 2 * static_cast<int64_t>(mAttributes.padding) - mAttributes.kernelSize;
        auto const* padded = offset >= 0
            ? exprBuilder.operation(DimensionOperation::kSUM, size, *exprBuilder.constant(offset))
            : exprBuilder.operation(DimensionOperation::kSUB, size, *exprBuilder.constant(-offset));
        auto const* steps
            = exprBuilder.operation(DimensionOperation::kFLOOR_DIV, *padded, *exprBuilder.constant(mAttributes.stride));
        return exprBuilder.operation(DimensionOperation::kSUM, *steps, *exprBuilder.constant(1));
    };
    outputs[0].nbDims = 4;
    outputs[0].d[0] = inputs[0].d[0];
    outputs[0].d[1] = inputs[1].d[0];
    outputs[0].d[2] = outputSize(*inputs[0].d[2]);
    outputs[0].d[3] = outputSize(*inputs[0].d[3]);
    return 0;
}

bool DynamicPatchEmbedPlugin::supportsFormatCombination(
    int32_t pos, nvinfer1::DynamicPluginTensorDesc const* inOut, int32_t nbInputs, int32_t nbOutputs) noexcept
{
    if (nbInputs != kNbInputs || nbOutputs != kNbOutputs)
    {
        return false;
    }
    nvinfer1::PluginTensorDesc const& desc = inOut[pos].desc;
    if (desc.format != nvinfer1::TensorFormat::kLINEAR)
    {
        return false;
    }
    DataType const pixels = inOut[0].desc.type;
    switch (pos)
    {
    case 0: return desc.type == DataType::kFLOAT || desc.type == DataType::kHALF;
    case 1:                                                                  // weight
    case 2: return desc.type == pixels || desc.type == DataType::kFLOAT; // bias
    case 3: return desc.type == pixels;                                      // output
    default: return false;
    }
}

int32_t DynamicPatchEmbedPlugin::getNbOutputs() const noexcept
{
    return kNbOutputs;
}

int32_t DynamicPatchEmbedPlugin::onShapeChange(nvinfer1::PluginTensorDesc const* in, int32_t nbInputs,
    nvinfer1::PluginTensorDesc const* /*out*/, int32_t nbOutputs) noexcept
{
    if (nbInputs != kNbInputs || nbOutputs != kNbOutputs)
    {
        return -1;
    }
    // The band count is only known now: the generated weight must have as many bands as the image.
    nvinfer1::Dims const& pixels = in[0].dims;
    nvinfer1::Dims const& weight = in[1].dims;
    if (weight.d[1] != pixels.d[1] || weight.d[2] != mAttributes.kernelSize || weight.d[3] != mAttributes.kernelSize
        || in[2].dims.d[0] != weight.d[0])
    {
        logError("shape mismatch: need pixels [B,C,H,W], weight [D,C,k,k], bias [D] with matching C and D");
        return -1;
    }
    return 0;
}

int32_t DynamicPatchEmbedPlugin::enqueue(nvinfer1::PluginTensorDesc const* inputDesc,
    nvinfer1::PluginTensorDesc const* outputDesc, void const* const* inputs, void* const* outputs,
    void* /*workspace*/, cudaStream_t stream) noexcept
{
    PatchEmbedDType pixelsType{};
    PatchEmbedDType weightType{};
    PatchEmbedDType biasType{};
    if (!toKernelType(inputDesc[0].type, pixelsType) || !toKernelType(inputDesc[1].type, weightType)
        || !toKernelType(inputDesc[2].type, biasType))
    {
        logError("unsupported data type");
        return -1;
    }
    nvinfer1::Dims const& pixels = inputDesc[0].dims;
    nvinfer1::Dims const& output = outputDesc[0].dims;
    PatchEmbedParams params{};
    params.batch = pixels.d[0];
    params.channels = pixels.d[1];
    params.height = pixels.d[2];
    params.width = pixels.d[3];
    params.dim = output.d[1];
    params.outH = output.d[2];
    params.outW = output.d[3];
    params.kernelSize = mAttributes.kernelSize;
    params.stride = mAttributes.stride;
    params.padding = mAttributes.padding;
    params.weightScale = mAttributes.weightScale;
    params.biasScale = mAttributes.biasScale;
    cudaError_t const status = launchPatchEmbed(
        inputs[0], pixelsType, inputs[1], weightType, inputs[2], biasType, outputs[0], params, stream);
    if (status != cudaSuccess)
    {
        logError(std::string("kernel launch failed: ") + cudaGetErrorString(status));
        return -1;
    }
    return 0;
}

nvinfer1::IPluginV3* DynamicPatchEmbedPlugin::attachToContext(nvinfer1::IPluginResourceContext* /*context*/) noexcept
{
    return clone(); // no per-context resources
}

nvinfer1::PluginFieldCollection const* DynamicPatchEmbedPlugin::getFieldsToSerialize() noexcept
{
    return &mSerialFieldCollection;
}

// ---------------------------------------------------------------------------------------------------------
// DynamicPatchEmbedPluginCreator

DynamicPatchEmbedPluginCreator::DynamicPatchEmbedPluginCreator()
    : mFieldNames{
          PluginField("kernel_size", nullptr, PluginFieldType::kINT32, 1),
          PluginField("stride", nullptr, PluginFieldType::kINT32, 1),
          PluginField("padding", nullptr, PluginFieldType::kINT32, 1),
          PluginField("weight_scale", nullptr, PluginFieldType::kFLOAT32, 1),
          PluginField("bias_scale", nullptr, PluginFieldType::kFLOAT32, 1),
      }
{
    mFieldNameCollection.nbFields = static_cast<int32_t>(mFieldNames.size());
    mFieldNameCollection.fields = mFieldNames.data();
}

char const* DynamicPatchEmbedPluginCreator::getPluginName() const noexcept
{
    return kPluginName;
}

char const* DynamicPatchEmbedPluginCreator::getPluginVersion() const noexcept
{
    return kPluginVersion;
}

char const* DynamicPatchEmbedPluginCreator::getPluginNamespace() const noexcept
{
    return kPluginNamespace;
}

nvinfer1::PluginFieldCollection const* DynamicPatchEmbedPluginCreator::getFieldNames() noexcept
{
    return &mFieldNameCollection;
}

nvinfer1::IPluginV3* DynamicPatchEmbedPluginCreator::createPlugin(
    char const* /*name*/, nvinfer1::PluginFieldCollection const* fc, nvinfer1::TensorRTPhase /*phase*/) noexcept
{
    try
    {
        // Every attribute is required: a silently defaulted scale would give a plausible but wrong model.
        PatchEmbedAttributes attributes{};
        int32_t found = 0;
        for (int32_t index = 0; fc != nullptr && index < fc->nbFields; ++index)
        {
            PluginField const& field = fc->fields[index];
            std::string const name = field.name != nullptr ? field.name : "";
            bool ok = true;
            if (name == "kernel_size") ok = readInt(field, attributes.kernelSize);
            else if (name == "stride") ok = readInt(field, attributes.stride);
            else if (name == "padding") ok = readInt(field, attributes.padding);
            else if (name == "weight_scale") ok = readFloat(field, attributes.weightScale);
            else if (name == "bias_scale") ok = readFloat(field, attributes.biasScale);
            else continue; // e.g. plugin_version/plugin_namespace, consumed by the ONNX parser
            if (!ok)
            {
                logError("attribute " + name + " has the wrong type or length");
                return nullptr;
            }
            ++found;
        }
        if (found != 5)
        {
            logError("needs the attributes kernel_size, stride, padding, weight_scale and bias_scale");
            return nullptr;
        }
        if (attributes.kernelSize < 1 || attributes.stride < 1 || attributes.padding < 0)
        {
            logError("needs kernel_size >= 1, stride >= 1 and padding >= 0");
            return nullptr;
        }
        return new DynamicPatchEmbedPlugin(attributes);
    }
    catch (std::exception const& e)
    {
        logError(std::string("createPlugin failed: ") + e.what());
        return nullptr;
    }
}

} // namespace trtbench

// ---------------------------------------------------------------------------------------------------------
// Registration.
//
// IPluginRegistry::loadLibrary (Python: trt.get_plugin_registry().load_library) looks up these two C entry
// points and registers the creators they return. A library that also registers itself on load would make
// that call fail as a duplicate, so static registration (REGISTER_TENSORRT_PLUGIN, for loading with
// ctypes/dlopen, LD_PRELOAD or trtexec --staticPlugins) is a separate build option.

#define TRTBENCH_EXPORT extern "C" __attribute__((visibility("default")))

TRTBENCH_EXPORT void setLoggerFinder(nvinfer1::ILoggerFinder* finder)
{
    trtbench::gLoggerFinder = finder;
}

TRTBENCH_EXPORT nvinfer1::IPluginCreatorInterface* const* getCreators(int32_t& nbCreators)
{
    static trtbench::DynamicPatchEmbedPluginCreator creator;
    static nvinfer1::IPluginCreatorInterface* const creators[] = {&creator};
    nbCreators = 1;
    return creators;
}

#ifdef TRTBENCH_STATIC_REGISTRATION
namespace trtbench
{
REGISTER_TENSORRT_PLUGIN(DynamicPatchEmbedPluginCreator);
} // namespace trtbench
#endif
