// A quick measurement of dense matmul throughput, to show in a start-up check whether the BLAS
// (and bf16 path) behaves as expected on this machine.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

namespace infalign::runtime {

struct MatmulProbeResult {
  double gflops = 0;   // median over repeats
  double seconds = 0;  // median time of one n x n x n product
};

// Times `repeats` products of two n x n matrices of `dtype` on `device` after one warm-up.
MatmulProbeResult probe_matmul(int n, c10::ScalarType dtype, c10::Device device, int repeats = 5);

}  // namespace infalign::runtime
