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
  bool is_openblas = false;
  bool is_reference = false;
  // One line for logs: "OpenBLAS 0.3.21 ... (/usr/lib/.../openblas-openmp/libblas.so.3)".
  std::string summary() const;
};

// Inspects the libraries loaded into this process.
BlasInfo detect_blas();

}  // namespace infalign::runtime
