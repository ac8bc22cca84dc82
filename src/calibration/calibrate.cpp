#include "infalign/calibration/calibrate.h"

#include <fmt/format.h>

#include <ATen/ATen.h>

#include "infalign/core/error.h"

namespace infalign::calibration {

theory::Transform make_transform(const config::TransformConfig& t, std::int64_t k) {
  theory::Transform phi;
  switch (t.kind) {
    case config::TransformKind::Raw:
      throw Error("transform.kind raw uses the reward model score itself; it has no Phi on u");
    case config::TransformKind::Identity:
      phi.shape = theory::Shape::Identity;
      break;
    case config::TransformKind::Log:
      phi.shape = theory::Shape::Log;
      phi.eps = t.log_floor > 0 ? t.log_floor : 0.5 / static_cast<double>(k);
      break;
    case config::TransformKind::Exp:
      phi.shape = theory::Shape::Exp;
      break;
    case config::TransformKind::NegExp:
      phi.shape = theory::Shape::NegExp;
      break;
    case config::TransformKind::Logistic:
      phi.shape = theory::Shape::Logistic;
      break;
  }
  phi.t = t.t;
  phi.c = t.center;
  phi.normalize = t.normalize;
  phi.validate();
  return phi;
}

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
