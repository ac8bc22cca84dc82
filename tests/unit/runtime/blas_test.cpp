#include "infalign/runtime/blas.h"

#include <gtest/gtest.h>

#include <ATen/ATen.h>

namespace infalign::runtime {
namespace {

// Guards the set-up trap: Debian's LibTorch on the reference BLAS is ~15x slower. scripts/
// install_deps.sh selects OpenBLAS; this fails if that step is lost or undone.
TEST(BlasTest, LibTorchIsNotOnTheReferenceBlas) {
  at::Tensor a = at::ones({64, 64});
  at::Tensor c = at::matmul(a, a);  // make sure BLAS is loaded and used
  EXPECT_FLOAT_EQ(c[0][0].item<float>(), 64.0f);
  const BlasInfo info = detect_blas();
  std::cout << "[ INFO     ] BLAS: " << info.summary() << "\n";
  if (info.library_path.empty()) {
    GTEST_SKIP() << "no shared libblas loaded (a LibTorch with a built-in BLAS, e.g. MKL)";
  }
  EXPECT_FALSE(info.is_reference)
      << "LibTorch runs on the reference BLAS (" << info.library_path
      << "); run scripts/install_deps.sh, which installs and selects libopenblas0-openmp";
  EXPECT_TRUE(info.is_openblas) << info.summary();
}

TEST(BlasTest, AdvisesACoreTypeOnlyWhenOpenBlasRunsKernelsOlderThanTheCpu) {
  BlasInfo info;
  info.is_openblas = true;
  info.core = "Prescott";
  const std::string avx512 = blas_core_advice(info, true, true);
  EXPECT_NE(avx512.find("OPENBLAS_CORETYPE=SkylakeX"), std::string::npos) << avx512;
  EXPECT_NE(avx512.find("Prescott"), std::string::npos) << avx512;
  EXPECT_NE(blas_core_advice(info, true, false).find("OPENBLAS_CORETYPE=Haswell"),
            std::string::npos);
  EXPECT_EQ(blas_core_advice(info, false, false), "") << "an SSE3 CPU gets what it can run";
  for (const char* suited : {"Haswell", "SkylakeX", "Cooperlake", "Zen"}) {
    info.core = suited;
    EXPECT_EQ(blas_core_advice(info, true, true), "") << suited;
  }
  info.core = "Prescott";
  info.is_openblas = false;
  EXPECT_EQ(blas_core_advice(info, true, true), "") << "not OpenBLAS";
}

}  // namespace
}  // namespace infalign::runtime
