// Main of the LibTorch test executables: one intra-op thread (deterministic, and no
// oversubscription under `ctest -j`) and a fixed global seed.
#include <gtest/gtest.h>

#include <ATen/Context.h>
#include <ATen/Parallel.h>

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  at::set_num_threads(1);
  at::manual_seed(20251126);
  return RUN_ALL_TESTS();
}
