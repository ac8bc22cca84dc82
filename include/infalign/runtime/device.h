// Device, dtype and thread set-up from the `run` config.
#pragma once

#include <cstdint>
#include <string>

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "infalign/config/run_config.h"

namespace infalign::runtime {

// auto -> CUDA when available, else CPU. Throws ConfigError (naming run.device) when CUDA is
// asked for but missing or the ordinal is out of range.
c10::Device resolve_device(const config::DeviceSpec& spec);

c10::ScalarType to_scalar_type(config::DType dtype);

// Sets LibTorch's intra-op threads (0 = the cores shared among `processes_per_machine`, at least
// one each: several LibTorch processes with a thread per core each run 10-70x slower here) and
// determinism; returns the thread count in effect.
int configure_threads(std::int64_t num_threads, int processes_per_machine = 1);

// Keeps freed tensor memory in the process instead of returning it to the kernel after every
// step (glibc otherwise mmaps/munmaps each buffer over 128 KiB, and the page faults of re-mapping
// cost ~10% of CPU generation). Called once at start-up by the binaries and benchmarks.
void tune_allocator();

// Total memory of a CUDA device in bytes, from the CUDA runtime LibTorch has loaded (looked up
// at run time, so CPU builds need no CUDA headers); 0 for the CPU or when it cannot be asked.
std::uint64_t cuda_device_memory(c10::Device device);

// Mixed precision for a scope: with run.dtype bfloat16, matmul-heavy ops run in bf16 (LibTorch
// autocast on the device's type) while parameters, optimizer state, norms, softmax and losses
// stay float32. A no-op for float32. Nests; restores the previous state on destruction.
class AutocastGuard {
 public:
  AutocastGuard(c10::Device device, config::DType dtype);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool active_ = false, cuda_ = false, was_enabled_ = false;
  c10::ScalarType previous_dtype_ = c10::ScalarType::Float;
};

// "LibTorch 1.13.0, CUDA no, 2 CPU threads" style summary of the runtime.
std::string describe_runtime();

}  // namespace infalign::runtime
