// Stage offline: the offline solver of the KL-regularised objective PPO optimises. It draws
// offline.samples_per_prompt base samples y_1..y_K of every training prompt x, calibrates and
// transforms their rewards as PPO does (R = Phi(u), or the raw reward), and fits the policy by
// weighted maximum likelihood
//   L(theta) = -mean_x sum_k w_k log pi_theta(y_k | x),  w_k = exp(R_k / beta) / sum_j exp(R_j /
//   beta),
// whose population optimum is pi*_beta = pi_ref exp(R / beta) / Z itself (self-normalised
// importance weights on base samples: the forward-KL projection of pi*_beta onto the model).
// No sampling inside the loop, no reference or value forwards; the samples are redrawn
// identically (seeded by prompt and index) when a run resumes, so resume is exact.
#pragma once

#include <string>

#include "infalign/config/load.h"

namespace infalign::ppo {

// The weights w_k of one prompt's transformed rewards R_k at beta: softmax(R / beta).
std::vector<double> offline_weights(const std::vector<double>& rewards, double beta);

struct OfflineResult {
  std::string policy_dir;  // HF-style export of the final policy
  std::int64_t steps = 0;
};

// Runs (or resumes, per checkpoint.resume) stage offline in run.run_dir; one process.
OfflineResult train_offline(const config::LoadedConfig& loaded);

}  // namespace infalign::ppo
