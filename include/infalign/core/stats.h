// Estimates with their uncertainty: means with standard errors, percentile bootstrap intervals
// over independent units (prompts). Torch-free; the resampling uses SplitMix64, so intervals
// replay exactly.
#pragma once

#include <cstdint>
#include <vector>

namespace infalign {

// A value with its uncertainty: an interval [lo, hi] and a standard error.
struct Estimate {
  double mean = 0, lo = 0, hi = 0;
  double se = 0;  // e.g. of a mean over prompts: sample sd / sqrt(count)
};

// A mean over prompts with a percentile bootstrap interval (prompts resampled with
// replacement) and the analytic standard error of the mean.
Estimate bootstrap_mean(const std::vector<double>& per_prompt, std::int64_t resamples,
                        double confidence, std::uint64_t seed);

// A point estimate with the spread of its bootstrap replicates: se = their standard deviation,
// [lo, hi] = their percentile interval at `confidence` (linear interpolation between order
// statistics); lo = hi = point when there are fewer than 2 replicates.
Estimate bootstrap_interval(double point, std::vector<double> replicates, double confidence);

// The paired difference mean(b) - mean(a) of two measurements of the same prompts (a[i] and b[i]
// of prompt i): the bootstrap resamples prompts jointly, so what the two share (the prompt's
// difficulty, the base samples both faced) cancels. Sizes must match.
Estimate paired_difference(const std::vector<double>& a, const std::vector<double>& b,
                           std::int64_t resamples, double confidence, std::uint64_t seed);

// Mean and its standard error (no bootstrap), e.g. for KL over sequences.
Estimate mean_and_se(const std::vector<double>& values);

}  // namespace infalign
