#include "infalign/calibration/calibrate.h"

#include <fmt/format.h>

#include <ATen/ATen.h>

#include "infalign/core/error.h"

namespace infalign::calibration {

at::Tensor calibrate_rewards(const CalibrationCache& cache, const std::vector<std::uint64_t>& keys,
                             const at::Tensor& rewards, bool plus_one,
                             const std::vector<std::string>& prompts,
                             const std::string& cache_name) {
  INFALIGN_CHECK(rewards.dim() == 1 && static_cast<std::size_t>(rewards.size(0)) == keys.size(),
                 "calibrate_rewards: {} rewards for {} prompts", rewards.numel(), keys.size());
  const at::Tensor r = rewards.to(at::kDouble).cpu().contiguous();
  at::Tensor u = at::empty_like(r);
  const double* in = r.data_ptr<double>();
  double* out = u.data_ptr<double>();
  for (std::size_t b = 0; b < keys.size(); ++b) {
    const std::vector<double>* sorted = cache.find(keys[b]);
    if (sorted == nullptr) {
      throw DataError(fmt::format(
          "{}: prompt '{}' is not in the calibration cache (it holds {} prompts); rebuild the "
          "cache for this prompt set",
          cache_name, b < prompts.size() ? prompts[b] : std::string("?"), cache.records().size()));
    }
    out[b] = calibrated_reward(*sorted, in[b], plus_one);
  }
  return u.to(rewards.device());
}

at::Tensor apply_transform(const theory::Transform& phi, const at::Tensor& u) {
  const at::Tensor in = u.to(at::kDouble).cpu().contiguous();
  at::Tensor out = at::empty_like(in);
  const double* p = in.data_ptr<double>();
  double* q = out.data_ptr<double>();
  for (std::int64_t i = 0; i < in.numel(); ++i) q[i] = phi(p[i]);
  return out.to(u.device());
}

}  // namespace infalign::calibration
