#include "infalign/calibration/u_kl.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "infalign/calibration/cache.h"
#include "infalign/core/error.h"
#include "infalign/core/random.h"

namespace infalign::calibration {

namespace {

// KL of `bins` values p against q (terms with p = 0 vanish; q > 0 wherever p > 0).
double binned_kl(const std::vector<double>& p, const std::vector<double>& q) {
  double kl = 0;
  for (std::size_t b = 0; b < p.size(); ++b) {
    if (p[b] > 0) kl += p[b] * std::log(p[b] / q[b]);
  }
  return std::max(0.0, kl);
}

}  // namespace

UKlEstimator::UKlEstimator(std::int64_t bins) : bins_(bins) {
  INFALIGN_CHECK(bins >= 1, "UKlEstimator: bins must be >= 1, got {}", bins);
}

void UKlEstimator::add_prompt(const std::vector<double>& sorted,
                              const std::vector<double>& rewards) {
  if (sorted.empty()) throw Error("u_kl: a prompt has no calibration rewards");
  const auto k = static_cast<std::int64_t>(sorted.size());
  const auto bins = static_cast<std::size_t>(bins_);
  std::vector<double> mass(bins, 0.0), base(bins, 0.0), hist(10, 0.0);
  // Lattice cell c of {0..K} (u = c / K) belongs to the bin whose edges hold c / K; the edges
  // u_b = (1 - cos(pi b / bins)) / 2 are finer near u = 0 and 1, where the layers of the sharp
  // transforms' densities are. Each cell has base probability 1 / (K + 1).
  std::vector<double> edges(bins + 1);
  for (std::size_t b = 0; b <= bins; ++b) {
    edges[b] = 0.5 - 0.5 * std::cos(M_PI * static_cast<double>(b) / static_cast<double>(bins));
  }
  auto bin_of = [&](std::int64_t c) {
    const double u = static_cast<double>(c) / static_cast<double>(k);
    const auto b = std::upper_bound(edges.begin() + 1, edges.end() - 1, u) - (edges.begin() + 1);
    return static_cast<std::size_t>(b);
  };
  for (std::int64_t c = 0; c <= k; ++c) {
    base[bin_of(c)] += static_cast<double>(rewards.size()) / static_cast<double>(k + 1);
  }
  double u_sum = 0;
  for (const double r : rewards) {
    if (!std::isfinite(r)) throw DataError(fmt::format("u_kl: a sample's score is {}", r));
    const auto lo = std::lower_bound(sorted.begin(), sorted.end(), r) - sorted.begin();
    const auto hi = std::upper_bound(sorted.begin(), sorted.end(), r) - sorted.begin();
    const double share = 1.0 / static_cast<double>(hi - lo + 1);
    for (auto c = lo; c <= hi; ++c) mass[bin_of(c)] += share;
    const double u = calibrated_reward(sorted, r, false);
    u_sum += u;
    hist[static_cast<std::size_t>(std::min(9.0, std::floor(u * 10)))] += 1;
  }
  mass_.push_back(std::move(mass));
  base_.push_back(std::move(base));
  hist_.push_back(std::move(hist));
  u_sum_.push_back(u_sum);
  count_.push_back(static_cast<double>(rewards.size()));
}

UDistribution UKlEstimator::finish(std::int64_t resamples, double confidence,
                                   std::uint64_t seed) const {
  UDistribution out;
  const std::size_t n = mass_.size();
  const auto bins = static_cast<std::size_t>(bins_);
  if (n == 0) return out;
  // KL of the pooled mass of the prompts `pick` against their pooled base probabilities.
  auto estimate = [&](const std::vector<std::size_t>& pick) {
    std::vector<double> p(bins, 0.0), q(bins, 0.0);
    double total = 0;
    for (const std::size_t i : pick) {
      for (std::size_t b = 0; b < bins; ++b) {
        p[b] += mass_[i][b];
        q[b] += base_[i][b];
      }
      total += count_[i];
    }
    if (total <= 0) return 0.0;
    for (std::size_t b = 0; b < bins; ++b) {
      p[b] /= total;
      q[b] /= total;
    }
    return binned_kl(p, q);
  };
  std::vector<std::size_t> all(n);
  std::iota(all.begin(), all.end(), 0);
  out.u_kl.mean = estimate(all);
  out.u_kl.lo = out.u_kl.hi = out.u_kl.mean;
  double total = std::accumulate(count_.begin(), count_.end(), 0.0);
  out.histogram.assign(10, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t b = 0; b < 10; ++b) out.histogram[b] += hist_[i][b] / std::max(1.0, total);
  }
  out.mean_u = std::accumulate(u_sum_.begin(), u_sum_.end(), 0.0) / std::max(1.0, total);
  if (resamples > 0 && n > 1) {
    SplitMix64 rng(seed);
    std::vector<double> values(static_cast<std::size_t>(resamples));
    std::vector<std::size_t> pick(n);
    for (double& v : values) {
      for (std::size_t& i : pick) i = rng.below(n);
      v = estimate(pick);
    }
    out.u_kl = bootstrap_interval(out.u_kl.mean, std::move(values), confidence);
  }
  return out;
}

}  // namespace infalign::calibration
