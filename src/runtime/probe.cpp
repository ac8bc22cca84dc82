#include "infalign/runtime/probe.h"

#include <algorithm>
#include <vector>

#include <ATen/ATen.h>

#include "infalign/core/timer.h"

namespace infalign::runtime {

MatmulProbeResult probe_matmul(int n, c10::ScalarType dtype, c10::Device device, int repeats) {
  const auto options = at::TensorOptions().dtype(dtype).device(device);
  at::Tensor a = at::randn({n, n}, options);
  at::Tensor b = at::randn({n, n}, options);
  at::Tensor c = at::matmul(a, b);  // warm-up
  auto sync = [&] {
    if (device.is_cuda()) c.cpu();
  };
  sync();
  std::vector<double> times;
  for (int i = 0; i < std::max(1, repeats); ++i) {
    Timer timer;
    c = at::matmul(a, b);
    sync();
    times.push_back(timer.seconds());
  }
  std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
  MatmulProbeResult result;
  result.seconds = times[times.size() / 2];
  result.gflops = 2.0 * n * n * static_cast<double>(n) / result.seconds / 1e9;
  return result;
}

}  // namespace infalign::runtime
