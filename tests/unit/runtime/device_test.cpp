#include "infalign/runtime/device.h"

#include <cstdlib>

#include <gtest/gtest.h>

#include <ATen/Parallel.h>
#include <torch/cuda.h>

#include "infalign/core/error.h"
#include "infalign/runtime/distributed.h"

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

TEST(DeviceTest, OneGpuOrdinalForSeveralProcessesIsRefused) {
  // WORLD_SIZE as scripts/launch.sh sets it: cuda:1 would put every rank on GPU 1.
  ::setenv("WORLD_SIZE", "2", 1);
  ::setenv("LOCAL_RANK", "1", 1);
  std::string message;
  try {
    resolve_device(DeviceSpec{DeviceKind::Cuda, 1});
  } catch (const ConfigError& e) {
    message = e.what();
  }
  ::unsetenv("WORLD_SIZE");
  ::unsetenv("LOCAL_RANK");
  EXPECT_NE(message.find("run.device: got cuda:1 with WORLD_SIZE 2: every process would use the "
                         "same GPU"),
            std::string::npos)
      << message;
  // One process may name its GPU (here: the no-CUDA error, or the device on a GPU machine).
  try {
    const c10::Device d = resolve_device(DeviceSpec{DeviceKind::Cuda, 0});
    EXPECT_TRUE(d.is_cuda());
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).find("WORLD_SIZE"), std::string::npos) << e.what();
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

namespace infalign::runtime {
namespace {

// Gloo binds a local interface, never MASTER_ADDR itself (on a second node that address is the
// first node's): GLOO_SOCKET_IFNAME first, the loopback for a master on this machine, else the
// device of this machine's hostname.
TEST(DistributedTest, GlooBindsALocalInterfaceNotTheMasterAddress) {
  EXPECT_EQ(gloo_interface_choice("10.0.0.5", "eth1"), "interface eth1");
  EXPECT_EQ(gloo_interface_choice("127.0.0.1", "lo"), "interface lo");
  EXPECT_EQ(gloo_interface_choice("127.0.0.1", nullptr), "loopback");
  EXPECT_EQ(gloo_interface_choice("localhost", ""), "loopback");
  EXPECT_EQ(gloo_interface_choice("10.0.0.5", nullptr), "default");
  EXPECT_EQ(gloo_interface_choice("node0.cluster", ""), "default");
}

}  // namespace
}  // namespace infalign::runtime
