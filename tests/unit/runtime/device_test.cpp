#include "infalign/runtime/device.h"

#include <gtest/gtest.h>

#include <ATen/Parallel.h>
#include <torch/cuda.h>

#include "infalign/core/error.h"

namespace infalign::runtime {
namespace {

using config::DeviceKind;
using config::DeviceSpec;

TEST(DeviceTest, ResolvesCpuAndAuto) {
  EXPECT_EQ(resolve_device(DeviceSpec{DeviceKind::Cpu, -1}), c10::Device(c10::DeviceType::CPU));
  const c10::Device automatic = resolve_device(DeviceSpec{DeviceKind::Auto, -1});
  EXPECT_EQ(automatic.is_cuda(), torch::cuda::is_available());
}

TEST(DeviceTest, CudaWithoutAGpuIsAConfigErrorNamingRunDevice) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "a CUDA device is present";
  try {
    resolve_device(DeviceSpec{DeviceKind::Cuda, 0});
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("run.device: got cuda:0"), std::string::npos) << e.what();
  }
}

TEST(DeviceTest, DtypeAndThreads) {
  EXPECT_EQ(to_scalar_type(config::DType::Float32), c10::ScalarType::Float);
  EXPECT_EQ(to_scalar_type(config::DType::BFloat16), c10::ScalarType::BFloat16);
  EXPECT_EQ(configure_threads(2), 2);
  EXPECT_EQ(at::get_num_threads(), 2);
  EXPECT_EQ(configure_threads(1), 1);
  EXPECT_GE(configure_threads(0), 1);  // one per core
  configure_threads(1);
}

}  // namespace
}  // namespace infalign::runtime
