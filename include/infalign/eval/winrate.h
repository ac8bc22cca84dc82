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

namespace infalign::eval {

// P(best of n from a > best of n from b) + P(equal) / 2; needs 1 <= n <= min(|a|, |b|).
double best_of_n_win_rate(std::vector<double> a, std::vector<double> b, std::int64_t n);
// P(worst of n from a > worst of n from b) + P(equal) / 2 (higher: the policy's worst case is
// better, the jailbreak view).
double worst_of_n_win_rate(std::vector<double> a, std::vector<double> b, std::int64_t n);

// The same by enumerating every pair of n-subsets (the test's reference; tiny inputs only).
double brute_force_win_rate(const std::vector<double>& a, const std::vector<double>& b,
                            std::int64_t n, bool best);

// A mean over prompts with a percentile bootstrap interval (prompts resampled with replacement).
struct Estimate {
  double mean = 0, lo = 0, hi = 0;
  double se = 0;  // standard error of the mean over prompts (sample sd / sqrt(count))
};
Estimate bootstrap_mean(const std::vector<double>& per_prompt, std::int64_t resamples,
                        double confidence, std::uint64_t seed);

// Mean and its standard error (no bootstrap), e.g. for KL over sequences.
Estimate mean_and_se(const std::vector<double>& values);

}  // namespace infalign::eval
