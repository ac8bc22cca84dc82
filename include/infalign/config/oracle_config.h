// The `oracle` section: the KL-regularised optimum of reward transforms on real rewards, by
// importance resampling of the evaluation prompts' calibration samples (eval.calibration_samples
// per prompt, each calibrated against the others; eval/frontier.h, docs/frontier.md).
// infalign-eval computes it when `enabled` (and each policy's fraction of its transform's oracle
// gain); `infalign-eval oracle` computes it alone.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace infalign::config {

struct OracleConfig {
  // Compute the oracle in infalign-eval and report each policy's oracle gain fraction.
  bool enabled = false;
  // Transforms whose optimum is drawn, besides each evaluated policy's own (read from its run):
  // raw, identity, log, exp:T, negexp:T, logistic:T or logistic:T:C.
  std::vector<std::string> transforms = {"raw", "identity", "exp:12.63", "negexp:9.68"};
  // The KL values at which each transform's oracle curve is computed.
  std::vector<double> kl_points = {0.05, 0.1, 0.15, 0.2, 0.25, 0.35, 0.5, 0.7, 1.0, 1.5};
};

}  // namespace infalign::config
