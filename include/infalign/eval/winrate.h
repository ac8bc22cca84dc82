// Inference-time win rates of a policy against its base from M samples per prompt and model
// (issue 7): exact U-statistics, not Monte Carlo, and bootstrap intervals over prompts.
//
// For one prompt, with policy rewards a (M_a values) and base rewards b (M_b values), the
// best-of-N win rate is the probability that the largest of N policy rewards drawn without
// replacement beats the largest of N base rewards, ties counting one half: the average over all
// N-subsets of each side. Sorting gives it exactly: the chance that an N-subset's maximum is at
// most v is C(#{a <= v}, N) / C(M_a, N), so the law of the maximum over the distinct values,
// merged with the other side's, is an O(M log M) sum. Worst-of-N uses the minimum. N = 1 is the
// standard win rate over all M_a x M_b pairs.
#pragma once

#include <cstdint>
#include <vector>

#include "infalign/core/stats.h"

namespace infalign::eval {

// P(best of n from a > best of n from b) + P(equal) / 2; needs 1 <= n <= min(|a|, |b|).
double best_of_n_win_rate(std::vector<double> a, std::vector<double> b, std::int64_t n);
// P(worst of n from a > worst of n from b) + P(equal) / 2 (higher: the policy's worst case is
// better, the jailbreak view).
double worst_of_n_win_rate(std::vector<double> a, std::vector<double> b, std::int64_t n);

// The same by enumerating every pair of n-subsets (the test's reference; tiny inputs only).
double brute_force_win_rate(const std::vector<double>& a, const std::vector<double>& b,
                            std::int64_t n, bool best);

// A weighted discrete law against a sample (the oracle's duel, frontier.h): X is the best
// (`best`) or worst of n independent draws from `values` with probabilities proportional to
// `weights` (with replacement: the law is F(v)^n), Y the best or worst of a uniform n-subset of
// `opponents` (without replacement, as above). Returns P(X > Y) + P(X = Y) / 2 exactly; needs
// 1 <= n <= |opponents|, finite values and weights >= 0 with a positive sum.
double weighted_win_rate(std::vector<double> values, std::vector<double> weights,
                         std::vector<double> opponents, std::int64_t n, bool best);
// The same by enumerating every n-tuple of values and every n-subset of opponents (the test's
// reference; tiny inputs only).
double brute_force_weighted_win_rate(const std::vector<double>& values,
                                     const std::vector<double>& weights,
                                     const std::vector<double>& opponents, std::int64_t n,
                                     bool best);

// The estimates the win rates are reported with (core/stats.h).
using infalign::bootstrap_interval;
using infalign::bootstrap_mean;
using infalign::Estimate;
using infalign::mean_and_se;

}  // namespace infalign::eval
