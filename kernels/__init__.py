"""Band-embedding kernels: the ``trtbench::DynamicPatchEmbed`` operator (shipped as ``trtbench.kernels``).

Clay's and DOFA's patch embedding is a stride == kernel convolution whose weights are generated at run time
from band wavelengths, so the band count is a runtime value that a TensorRT convolution cannot take.
Implementations, all with the index arithmetic and numerics of :func:`patch_embed_reference`:

* :func:`patch_embed_reference` -- torch CPU reference, the specification.
* :func:`patch_embed_triton` -- Triton kernel (GPU, or Triton's CPU interpreter); needs ``triton``.
* ``plugin/`` -- C++/CUDA TensorRT IPluginV3 plugin, loaded with :func:`load_plugin_library`.
* ``trt_python_plugin`` -- the same operator as a TensorRT Python AOT plugin (GPU machines; import it
  explicitly, it imports tensorrt).
"""

from .loader import load_plugin_library, plugin_library_path
from .reference import check_patch_embed_args, conv_output_size, patch_embed_reference
from .triton_patch_embed import patch_embed_triton, triton_available

__all__ = [
    "check_patch_embed_args",
    "conv_output_size",
    "load_plugin_library",
    "patch_embed_reference",
    "patch_embed_triton",
    "plugin_library_path",
    "triton_available",
]
