// Which BLAS the process runs on. Debian's LibTorch calls the system libblas.so.3, which is the
// reference implementation (~6 GFLOP/s) unless OpenBLAS (~100 GFLOP/s) is selected.
#pragma once

#include <string>

namespace infalign::runtime {

struct BlasInfo {
  // Resolved path of the loaded libblas.so.3 ("" if none is loaded).
  std::string library_path;
  // "OpenBLAS", "reference BLAS", "MKL" or "unknown".
  std::string name;
  // OpenBLAS build string (version, core, threads) when available.
  std::string details;
  // OpenBLAS's kernel family for this CPU ("Haswell", "SkylakeX", ... "Prescott"), "" otherwise.
  std::string core;
  bool is_openblas = false;
  bool is_reference = false;
  // One line for logs: "OpenBLAS 0.3.21 ... (/usr/lib/.../openblas-openmp/libblas.so.3)".
  std::string summary() const;
};

// Inspects the libraries loaded into this process.
BlasInfo detect_blas();

// A warning's text when OpenBLAS runs kernels without AVX2 on a CPU that has it: an OpenBLAS
// that does not know a CPU model falls back to its generic SSE3 ("Prescott") kernels (float32
// sampling 2.2x slower on an Intel Xeon with AMX, README's troubleshooting). Empty when the core
// suits the CPU (or is not OpenBLAS). The CPU's features are arguments so the rule can be tested on
// any machine; cpu_has_avx2/avx512f() read this one's.
std::string blas_core_advice(const BlasInfo& info, bool avx2, bool avx512f);
bool cpu_has_avx2();
bool cpu_has_avx512f();

}  // namespace infalign::runtime
