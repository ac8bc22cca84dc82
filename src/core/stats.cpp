#include "infalign/core/stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "infalign/core/error.h"
#include "infalign/core/random.h"

namespace infalign {

Estimate mean_and_se(const std::vector<double>& values) {
  Estimate e;
  if (values.empty()) return e;
  const double count = static_cast<double>(values.size());
  e.mean = std::accumulate(values.begin(), values.end(), 0.0) / count;
  double ss = 0;
  for (const double v : values) ss += (v - e.mean) * (v - e.mean);
  e.se = values.size() > 1 ? std::sqrt(ss / (count - 1) / count) : 0.0;
  e.lo = e.hi = e.mean;
  return e;
}

Estimate bootstrap_interval(double point, std::vector<double> replicates, double confidence) {
  Estimate e;
  e.mean = e.lo = e.hi = point;
  if (replicates.size() < 2) return e;
  e.se = mean_and_se(replicates).se * std::sqrt(static_cast<double>(replicates.size()));
  std::sort(replicates.begin(), replicates.end());
  auto percentile = [&](double q) {
    const double pos = q * static_cast<double>(replicates.size() - 1);
    const auto lo = static_cast<std::size_t>(std::floor(pos));
    const std::size_t hi = std::min(lo + 1, replicates.size() - 1);
    return replicates[lo] + (pos - static_cast<double>(lo)) * (replicates[hi] - replicates[lo]);
  };
  e.lo = percentile(0.5 * (1 - confidence));
  e.hi = percentile(0.5 * (1 + confidence));
  return e;
}

Estimate bootstrap_mean(const std::vector<double>& per_prompt, std::int64_t resamples,
                        double confidence, std::uint64_t seed) {
  INFALIGN_CHECK(!per_prompt.empty() && resamples >= 1 && confidence > 0 && confidence < 1,
                 "bootstrap_mean: needs values, resamples >= 1 and a confidence in (0, 1)");
  const Estimate plain = mean_and_se(per_prompt);
  SplitMix64 rng(seed);
  std::vector<double> means(static_cast<std::size_t>(resamples));
  const std::size_t n = per_prompt.size();
  for (double& m : means) {
    double sum = 0;
    for (std::size_t i = 0; i < n; ++i) sum += per_prompt[rng.below(n)];
    m = sum / static_cast<double>(n);
  }
  Estimate e = bootstrap_interval(plain.mean, std::move(means), confidence);
  e.se = plain.se;  // the analytic standard error of the mean
  return e;
}

Estimate paired_difference(const std::vector<double>& a, const std::vector<double>& b,
                           std::int64_t resamples, double confidence, std::uint64_t seed) {
  INFALIGN_CHECK(a.size() == b.size(),
                 "paired_difference: the two sides must have one value per "
                 "prompt each");
  std::vector<double> diff(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) diff[i] = b[i] - a[i];
  return bootstrap_mean(diff, resamples, confidence, seed);
}

}  // namespace infalign
