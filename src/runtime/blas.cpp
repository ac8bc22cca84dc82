#include "infalign/runtime/blas.h"

#include <dlfcn.h>
#include <link.h>

#include <climits>
#include <cstdlib>
#include <string_view>

#include <fmt/format.h>

namespace infalign::runtime {

namespace {

int find_blas(struct dl_phdr_info* info, std::size_t /*size*/, void* data) {
  const std::string_view name = info->dlpi_name != nullptr ? info->dlpi_name : "";
  if (name.find("libblas.so") != std::string_view::npos ||
      name.find("libopenblas") != std::string_view::npos ||
      name.find("libmkl_rt") != std::string_view::npos) {
    auto* out = static_cast<std::string*>(data);
    // Prefer libblas.so.3 (what LibTorch calls) over the OpenBLAS core it pulls in.
    if (out->empty() || name.find("libblas.so") != std::string_view::npos) *out = std::string(name);
  }
  return 0;
}

}  // namespace

std::string BlasInfo::summary() const {
  std::string text = name;
  if (!details.empty()) text += " (" + details + ")";
  if (!library_path.empty()) text += " via " + library_path;
  return text;
}

BlasInfo detect_blas() {
  BlasInfo info;
  std::string loaded;
  dl_iterate_phdr(find_blas, &loaded);
  if (!loaded.empty()) {
    char resolved[PATH_MAX];
    info.library_path = ::realpath(loaded.c_str(), resolved) != nullptr ? resolved : loaded;
  }
  // OpenBLAS exports these from its libblas.so.3 as well.
  using ConfigFn = char* (*)();
  auto* get_config = reinterpret_cast<ConfigFn>(dlsym(RTLD_DEFAULT, "openblas_get_config"));
  auto* get_core = reinterpret_cast<ConfigFn>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  const bool openblas_path = info.library_path.find("openblas") != std::string::npos;
  if (openblas_path || (get_config != nullptr && loaded.find("libblas.so") == std::string::npos)) {
    info.is_openblas = true;
    info.name = "OpenBLAS";
    if (get_config != nullptr) {
      info.details = get_config();
      if (get_core != nullptr) {
        info.core = get_core();
        info.details += fmt::format(", core {}", info.core);
      }
    }
  } else if (info.library_path.find("mkl") != std::string::npos) {
    info.name = "MKL";
  } else if (info.library_path.find("/blas/") != std::string::npos) {
    info.name = "reference BLAS";
    info.is_reference = true;
  } else {
    info.name = info.library_path.empty() ? "none loaded" : "unknown";
  }
  return info;
}

std::string blas_core_advice(const BlasInfo& info, bool avx2, bool avx512f) {
  if (!info.is_openblas || !avx2) return "";
  // OpenBLAS's kernel families (as openblas_get_corename() names them) that use no AVX2: the
  // generic "Prescott" fallback it picks for a CPU model it does not know, and the older Intel,
  // AMD and VIA targets.
  for (const char* old : {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom",
                          "Sandybridge", "Athlon", "Opteron", "Opteron_SSE3", "Barcelona", "Bobcat",
                          "Bulldozer", "Piledriver", "Steamroller", "Nano", "Unknown"}) {
    if (info.core == old) {
      return fmt::format(
          "OpenBLAS runs its {} kernels, which use no AVX2, on a CPU with {} (this OpenBLAS does "
          "not know the CPU's model): float32 matmuls run slower than they could (2.2x slower "
          "float32 sampling measured on one such CPU). Set OPENBLAS_CORETYPE={} in the "
          "environment before starting",
          info.core, avx512f ? "AVX-512" : "AVX2", avx512f ? "SkylakeX" : "Haswell");
    }
  }
  return "";
}

#if defined(__x86_64__) || defined(__i386__)
bool cpu_has_avx2() { return __builtin_cpu_supports("avx2") != 0; }
bool cpu_has_avx512f() { return __builtin_cpu_supports("avx512f") != 0; }
#else
bool cpu_has_avx2() { return false; }
bool cpu_has_avx512f() { return false; }
#endif

}  // namespace infalign::runtime
