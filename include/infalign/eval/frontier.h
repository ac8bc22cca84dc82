// The frontier of a reward transform on real rewards (docs/frontier.md): the
// KL-regularised optimum pi*(y|x) = pi_ref(y|x) exp(R(x, y) / beta) / Z by self-normalised
// importance resampling of base samples (the oracle), and how much of its KL a policy spends on
// the calibrated reward (KL efficiency). Torch-free: the eval, the synthetic self-check and the
// tests run the same code.
//
// Oracle, per prompt x, from base samples scored by one judge:
//   candidates y_1..y_M with R_i = Phi(u_i) (or r_i for the raw reward), where u_i is the
//     mid-rank of r_i among the other M - 1 candidates (leave-one-out: a calibration set of
//     M - 1 for each, at no extra samples), or among a separate calibration set S;
//     reweighted by w_i = exp(R_i / beta) / sum_j exp(R_j / beta);
//   opponents z_1..z_M' (disjoint from the candidates: the base side of every duel).
// KL_x = sum_i w_i log(M w_i) (biased low when the weights concentrate; at most log M); the
// standard / best-of-N / worst-of-N win rates are those of the weighted discrete law (N draws
// with replacement) against uniform N-subsets of the opponents, exactly, ties counting half
// (winrate.h). One beta for all prompts; the reported KL and win rates are means over prompts.
// Sizes and their bias against the theory module: docs/frontier.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "infalign/calibration/u_kl.h"
#include "infalign/config/transform_config.h"
#include "infalign/eval/winrate.h"
#include "infalign/theory/transform.h"

namespace infalign::eval {

// ---- the oracle --------------------------------------------------------------------------------

// The reward of the optimum: the raw judge score, or Phi of its calibrated u.
struct OracleTransform {
  config::TransformConfig config;        // kind raw: the raw score
  std::optional<theory::Transform> phi;  // nullopt for raw

  // `k`: the calibration set size, for the log transform's default floor 1 / (2K).
  static OracleTransform from_config(const config::TransformConfig& t, std::int64_t k);
  // A spec of config::parse_transform_spec ("raw", "exp:12.63", ...); throws ConfigError.
  static OracleTransform parse(std::string_view spec, std::int64_t k);
  std::string spec() const { return config::transform_spec(config); }
  // "raw reward" or theory::Transform::describe(), e.g. "exp(t=12.63, normalised)".
  std::string describe() const;
};

// One prompt's base samples under one judge.
struct OracleSamples {
  std::vector<double> calibration;  // sorted ascending; unused with leave-one-out
  std::vector<double> candidates;
  std::vector<double> opponents;
};

// The oracle at one beta: means over prompts (with standard errors over prompts) and the
// per-prompt values, for pairing with a trained policy that faced the same opponents.
struct OracleRates {
  double beta = 0, kl = 0;
  std::vector<std::int64_t> n;  // the N of each row; N = 1 is the standard win rate
  std::vector<Estimate> best, worst;
  std::vector<std::vector<double>> best_per_prompt, worst_per_prompt;  // [i_n][prompt]
};

class Oracle {
 public:
  // `leave_one_out`: u of each candidate among the other candidates (what infalign-eval does),
  // else among the prompt's calibration set. Throws infalign::Error when a prompt has no
  // candidates (fewer than 2 with leave-one-out) or no calibration rewards, an N exceeds a
  // prompt's opponents, and DataError when a score is not finite.
  Oracle(const std::vector<OracleSamples>& prompts, OracleTransform transform,
         std::vector<std::int64_t> ns, bool leave_one_out);

  const OracleTransform& transform() const { return transform_; }
  // Mean over prompts of the reweighted candidates' KL at beta (decreasing in beta).
  double kl(double beta) const;
  // The KL as beta -> 0 (all weight on each prompt's best candidates): mean log(M / #best).
  double max_kl() const { return max_kl_; }
  // Beta at which kl(beta) equals `kl` (safeguarded Newton on log(1 / beta)); throws
  // infalign::Error naming the target and the reachable KL when kl >= max_kl().
  double solve_beta(double kl) const;
  OracleRates at_beta(double beta) const;
  OracleRates at_kl(double kl) const { return at_beta(solve_beta(kl)); }

 private:
  struct Prompt {
    std::vector<double> values;   // candidates' judge scores, ascending
    std::vector<double> rewards;  // R of each candidate (same order)
    std::vector<double> opponents;
  };
  std::vector<double> weights(const Prompt& p, double beta) const;
  // The mean KL at lambda = 1 / beta and its derivative in lambda.
  std::pair<double, double> kl_and_slope(double lambda) const;

  OracleTransform transform_;
  std::vector<std::int64_t> ns_;
  std::vector<Prompt> prompts_;
  double max_kl_ = 0, scale_ = 1;  // scale_: a typical spread of R, to bracket beta
};

// The fraction of the oracle's gain a policy realises: (mean(policy) - 0.5) / (mean(oracle) -
// 0.5) over prompts, with a percentile bootstrap interval and its sd as `se` (prompts resampled
// jointly: the policy and the oracle faced the same opponents). Nothing when the oracle's gain
// |mean(oracle) - 0.5| is under `min_gain` (a ratio of noise, e.g. a policy at KL ~ 0).
std::optional<Estimate> gain_fraction(const std::vector<double>& policy,
                                      const std::vector<double>& oracle, std::int64_t resamples,
                                      double confidence, std::uint64_t seed,
                                      double min_gain = 0.005);

// Base samples of `prompts` prompts with rewards drawn from U[0, 1] (the synthetic self-check:
// there u is uniform under the base, so the oracle must reproduce the theory module); no
// calibration set when `calibration` is 0.
std::vector<OracleSamples> synthetic_uniform_samples(std::int64_t prompts, std::int64_t calibration,
                                                     std::int64_t candidates,
                                                     std::int64_t opponents, std::uint64_t seed);

}  // namespace infalign::eval
