# LibTorch: Debian's libtorch-dev by default; any other LibTorch (e.g. the CUDA one inside a
# PyTorch install) through -DCMAKE_PREFIX_PATH=<torch>/share/cmake, nothing else changed.
find_package(Torch REQUIRED)
# TorchConfig exports a plain variable list; wrap it in one imported target so the rest of the
# build links `infalign::torch` and never sees TORCH_* variables.
if(NOT TARGET infalign::torch)
  add_library(infalign::torch INTERFACE IMPORTED)
  set_target_properties(infalign::torch PROPERTIES
    INTERFACE_LINK_LIBRARIES "${TORCH_LIBRARIES}"
    INTERFACE_INCLUDE_DIRECTORIES "${TORCH_INCLUDE_DIRS}")
  # TORCH_CXX_FLAGS carries the ABI flag (-D_GLIBCXX_USE_CXX11_ABI=0/1) of a pip LibTorch.
  separate_arguments(_infalign_torch_flags UNIX_COMMAND "${TORCH_CXX_FLAGS}")
  target_compile_options(infalign::torch INTERFACE ${_infalign_torch_flags})
endif()
message(STATUS "infalign: LibTorch ${Torch_VERSION} from ${Torch_DIR}")
