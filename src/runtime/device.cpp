#include "infalign/runtime/device.h"

#include <dlfcn.h>
#include <malloc.h>

#include <cstdlib>
#include <thread>

#include <fmt/format.h>

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <c10/core/DeviceType.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include "infalign/config/names.h"
#include "infalign/core/error.h"

namespace infalign::runtime {

namespace {

// The GPU of this process when several share a machine (scripts/launch.sh, torchrun): LOCAL_RANK
// modulo the visible devices; -1 (the current device) for a single process.
c10::DeviceIndex local_gpu() {
  const char* world = std::getenv("WORLD_SIZE");
  const char* local = std::getenv("LOCAL_RANK");
  if (world == nullptr || local == nullptr || std::atoi(world) <= 1) return -1;
  const auto count = static_cast<int>(torch::cuda::device_count());
  return static_cast<c10::DeviceIndex>(count > 0 ? std::atoi(local) % count : -1);
}

}  // namespace

c10::Device resolve_device(const config::DeviceSpec& spec) {
  switch (spec.kind) {
    case config::DeviceKind::Cpu:
      return c10::Device(c10::DeviceType::CPU);
    case config::DeviceKind::Auto:
      return torch::cuda::is_available() ? c10::Device(c10::DeviceType::CUDA, local_gpu())
                                         : c10::Device(c10::DeviceType::CPU);
    case config::DeviceKind::Cuda: {
      // One ordinal for every process would put all ranks on one GPU (NCCL refuses that, and
      // they would share its memory): several processes take GPU LOCAL_RANK instead.
      const char* world = std::getenv("WORLD_SIZE");
      if (spec.index >= 0 && world != nullptr && std::atoi(world) > 1) {
        throw ConfigError({fmt::format(
            "run.device: got {} with WORLD_SIZE {}: every process would use the same GPU; "
            "expected cuda (each process takes GPU LOCAL_RANK modulo the visible devices) or "
            "auto when several processes run, or CUDA_VISIBLE_DEVICES to choose the GPUs",
            config::to_string(spec), world)});
      }
      if (!torch::cuda::is_available()) {
        throw ConfigError(
            {fmt::format("run.device: got {}, but this LibTorch sees no CUDA "
                         "device; expected auto or cpu here",
                         config::to_string(spec))});
      }
      const auto count = static_cast<int>(torch::cuda::device_count());
      if (spec.index >= count) {
        throw ConfigError(
            {fmt::format("run.device: got {}, expected an ordinal below {} (the "
                         "number of visible CUDA devices)",
                         config::to_string(spec), count)});
      }
      return c10::Device(c10::DeviceType::CUDA,
                         spec.index >= 0 ? static_cast<c10::DeviceIndex>(spec.index) : local_gpu());
    }
  }
  return c10::Device(c10::DeviceType::CPU);
}

c10::ScalarType to_scalar_type(config::DType dtype) {
  return dtype == config::DType::BFloat16 ? c10::ScalarType::BFloat16 : c10::ScalarType::Float;
}

int configure_threads(std::int64_t num_threads, int processes_per_machine) {
  int n = static_cast<int>(num_threads);
  if (n == 0) {
    n = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) /
                        std::max(1, processes_per_machine));
  }
  at::set_num_threads(n);
  return at::get_num_threads();
}

void tune_allocator() {
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
}

std::uint64_t cuda_device_memory(c10::Device device) {
  if (!device.is_cuda() || !torch::cuda::is_available()) return 0;
  using GetDevice = int (*)(int*);
  using SetDevice = int (*)(int);
  using MemGetInfo = int (*)(std::size_t*, std::size_t*);
  auto* get_device = reinterpret_cast<GetDevice>(::dlsym(RTLD_DEFAULT, "cudaGetDevice"));
  auto* set_device = reinterpret_cast<SetDevice>(::dlsym(RTLD_DEFAULT, "cudaSetDevice"));
  auto* mem_get_info = reinterpret_cast<MemGetInfo>(::dlsym(RTLD_DEFAULT, "cudaMemGetInfo"));
  if (get_device == nullptr || set_device == nullptr || mem_get_info == nullptr) return 0;
  int previous = 0;
  if (get_device(&previous) != 0) return 0;
  const int index = device.has_index() ? device.index() : previous;
  std::size_t free = 0, total = 0;
  const bool ok = set_device(index) == 0 && mem_get_info(&free, &total) == 0;
  set_device(previous);
  return ok ? static_cast<std::uint64_t>(total) : 0;
}

std::string describe_runtime() {
  return fmt::format("LibTorch {}, CUDA {}, {} intra-op thread(s)", TORCH_VERSION,
                     torch::cuda::is_available()
                         ? fmt::format("yes ({} device(s))", torch::cuda::device_count())
                         : std::string("no"),
                     at::get_num_threads());
}

AutocastGuard::AutocastGuard(c10::Device device, config::DType dtype) {
  if (dtype != config::DType::BFloat16) return;
  active_ = true;
  cuda_ = device.is_cuda();
  if (cuda_) {
    was_enabled_ = at::autocast::is_enabled();
    previous_dtype_ = at::autocast::get_autocast_gpu_dtype();
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    at::autocast::set_enabled(true);
  } else {
    was_enabled_ = at::autocast::is_cpu_enabled();
    previous_dtype_ = at::autocast::get_autocast_cpu_dtype();
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    at::autocast::set_cpu_enabled(true);
  }
  at::autocast::increment_nesting();
}

AutocastGuard::~AutocastGuard() {
  if (!active_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  if (cuda_) {
    at::autocast::set_enabled(was_enabled_);
    at::autocast::set_autocast_gpu_dtype(previous_dtype_);
  } else {
    at::autocast::set_cpu_enabled(was_enabled_);
    at::autocast::set_autocast_cpu_dtype(previous_dtype_);
  }
}

}  // namespace infalign::runtime
