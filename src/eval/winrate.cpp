#include "infalign/eval/winrate.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>

#include <fmt/format.h>

#include "infalign/core/error.h"
#include "infalign/core/random.h"

namespace infalign::eval {

namespace {

void check_finite(const std::vector<double>& v) {
  for (const double x : v) {
    if (!std::isfinite(x)) {
      throw DataError(fmt::format(
          "win rate: a judge score is {}; expected finite scores (a diverged reward model or "
          "policy?)",
          x));
    }
  }
}

void check_n(std::size_t a, std::size_t b, std::int64_t n) {
  if (n < 1 || static_cast<std::size_t>(n) > std::min(a, b)) {
    throw Error(fmt::format(
        "win rate of the best/worst of N = {} needs 1 <= N <= the samples per model ({} and {})", n,
        a, b));
  }
}

// cdf[k] = C(k, n) / C(m, n): the chance that the maximum of a uniform n-subset of m sorted
// values lies among the first k (0 for k < n).
std::vector<double> max_cdf(std::size_t m, std::int64_t n) {
  std::vector<double> cdf(m + 1, 0.0);
  const double nn = static_cast<double>(n);
  const double denominator =
      std::lgamma(static_cast<double>(m) + 1) - std::lgamma(static_cast<double>(m) - nn + 1);
  for (std::size_t k = static_cast<std::size_t>(n); k <= m; ++k) {
    const double kk = static_cast<double>(k);
    cdf[k] = std::exp(std::lgamma(kk + 1) - std::lgamma(kk - nn + 1) - denominator);
  }
  cdf[m] = 1.0;
  return cdf;
}

}  // namespace

double best_of_n_win_rate(std::vector<double> a, std::vector<double> b, std::int64_t n) {
  check_n(a.size(), b.size(), n);
  check_finite(a);
  check_finite(b);
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  const std::vector<double> fa = max_cdf(a.size(), n), fb = max_cdf(b.size(), n);
  // Walk the distinct values of a; for each, the counts of a and b below and at it.
  double win = 0;
  std::size_t ia = 0, ib_lt = 0, ib_le = 0;
  while (ia < a.size()) {
    const double v = a[ia];
    std::size_t ja = ia;
    while (ja < a.size() && a[ja] == v) ++ja;
    while (ib_lt < b.size() && b[ib_lt] < v) ++ib_lt;
    ib_le = std::max(ib_le, ib_lt);
    while (ib_le < b.size() && b[ib_le] == v) ++ib_le;
    const double p_a_max_is_v = fa[ja] - fa[ia];
    win += p_a_max_is_v * (fb[ib_lt] + 0.5 * (fb[ib_le] - fb[ib_lt]));
    ia = ja;
  }
  return win;
}

double worst_of_n_win_rate(std::vector<double> a, std::vector<double> b, std::int64_t n) {
  // min a > min b  <=>  max(-a) < max(-b): the complement of the best-of-n win of the negations.
  for (double& x : a) x = -x;
  for (double& x : b) x = -x;
  return 1.0 - best_of_n_win_rate(std::move(a), std::move(b), n);
}

double brute_force_win_rate(const std::vector<double>& a, const std::vector<double>& b,
                            std::int64_t n, bool best) {
  check_n(a.size(), b.size(), n);
  // The extreme of every n-subset, by recursion over combinations.
  auto extremes = [&](const std::vector<double>& v) {
    std::vector<double> out;
    std::vector<std::size_t> pick;
    std::function<void(std::size_t)> rec = [&](std::size_t from) {
      if (static_cast<std::int64_t>(pick.size()) == n) {
        double e = v[pick[0]];
        for (const std::size_t i : pick) e = best ? std::max(e, v[i]) : std::min(e, v[i]);
        out.push_back(e);
        return;
      }
      for (std::size_t i = from; i < v.size(); ++i) {
        pick.push_back(i);
        rec(i + 1);
        pick.pop_back();
      }
    };
    rec(0);
    return out;
  };
  const std::vector<double> ea = extremes(a), eb = extremes(b);
  double win = 0;
  for (const double x : ea) {
    for (const double y : eb) win += x > y ? 1.0 : x == y ? 0.5 : 0.0;
  }
  return win / (static_cast<double>(ea.size()) * static_cast<double>(eb.size()));
}

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

Estimate bootstrap_mean(const std::vector<double>& per_prompt, std::int64_t resamples,
                        double confidence, std::uint64_t seed) {
  INFALIGN_CHECK(!per_prompt.empty() && resamples >= 1 && confidence > 0 && confidence < 1,
                 "bootstrap_mean: needs values, resamples >= 1 and a confidence in (0, 1)");
  Estimate e = mean_and_se(per_prompt);
  SplitMix64 rng(seed);
  std::vector<double> means(static_cast<std::size_t>(resamples));
  const std::size_t n = per_prompt.size();
  for (double& m : means) {
    double sum = 0;
    for (std::size_t i = 0; i < n; ++i) sum += per_prompt[rng.below(n)];
    m = sum / static_cast<double>(n);
  }
  std::sort(means.begin(), means.end());
  // Percentiles with linear interpolation between order statistics.
  auto percentile = [&](double q) {
    const double pos = q * static_cast<double>(means.size() - 1);
    const auto lo = static_cast<std::size_t>(std::floor(pos));
    const std::size_t hi = std::min(lo + 1, means.size() - 1);
    return means[lo] + (pos - static_cast<double>(lo)) * (means[hi] - means[lo]);
  };
  e.lo = percentile(0.5 * (1 - confidence));
  e.hi = percentile(0.5 * (1 + confidence));
  return e;
}

}  // namespace infalign::eval
