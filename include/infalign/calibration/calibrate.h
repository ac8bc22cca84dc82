// The calibrated reward and its transform, batched (CTRL steps 1-2 at PPO time):
// u = C(x, y) from the cache, then R = Phi(u).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "infalign/calibration/cache.h"
#include "infalign/calibration/transform.h"

namespace infalign::calibration {

// u for each row: rewards [B] (any floating dtype, any device) against the cache records of
// `keys` -> [B] float64 on the rewards' device. A key missing from the cache is a DataError
// naming the prompt (`prompts[b]`, for the message) and `cache_name`.
at::Tensor calibrate_rewards(const CalibrationCache& cache, const std::vector<std::uint64_t>& keys,
                             const at::Tensor& rewards, bool plus_one,
                             const std::vector<std::string>& prompts,
                             const std::string& cache_name);

// Phi applied elementwise: u [B] -> R [B] float64 on u's device.
at::Tensor apply_transform(const theory::Transform& phi, const at::Tensor& u);

}  // namespace infalign::calibration
