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

// The law of a maximum as its CDF at the distinct values it takes, ascending.
struct MaxLaw {
  std::vector<double> values, cdf;  // cdf[g] = P(max <= values[g])
};

// The maximum of a uniform n-subset of `sorted` (ascending).
MaxLaw subset_max_law(const std::vector<double>& sorted, std::int64_t n) {
  const std::vector<double> c = max_cdf(sorted.size(), n);
  MaxLaw law;
  for (std::size_t i = 0; i < sorted.size();) {
    std::size_t j = i;
    while (j < sorted.size() && sorted[j] == sorted[i]) ++j;
    law.values.push_back(sorted[i]);
    law.cdf.push_back(c[j]);
    i = j;
  }
  return law;
}

// The maximum of n independent draws from the discrete law (values ascending, weights >= 0
// summing to 1): F(v)^n.
MaxLaw weighted_max_law(const std::vector<double>& values, const std::vector<double>& weights,
                        std::int64_t n) {
  MaxLaw law;
  double cumulative = 0;
  for (std::size_t i = 0; i < values.size();) {
    std::size_t j = i;
    for (; j < values.size() && values[j] == values[i]; ++j) cumulative += weights[j];
    law.values.push_back(values[i]);
    law.cdf.push_back(std::pow(std::min(1.0, cumulative), static_cast<double>(n)));
    i = j;
  }
  if (!law.cdf.empty()) law.cdf.back() = 1.0;
  return law;
}

// P(X > Y) + P(X = Y) / 2 for independent maxima X ~ x and Y ~ y, by one merge.
double duel(const MaxLaw& x, const MaxLaw& y) {
  double win = 0, x_below = 0;
  std::size_t iy = 0;
  double y_below = 0;  // P(Y < current x value)
  for (std::size_t g = 0; g < x.values.size(); ++g) {
    const double v = x.values[g];
    while (iy < y.values.size() && y.values[iy] < v) y_below = y.cdf[iy++];
    const double y_at = iy < y.values.size() && y.values[iy] == v ? y.cdf[iy] - y_below : 0.0;
    win += (x.cdf[g] - x_below) * (y_below + 0.5 * y_at);
    x_below = x.cdf[g];
  }
  return win;
}

std::vector<double> negated_sorted(std::vector<double> v) {
  for (double& x : v) x = -x;
  std::sort(v.begin(), v.end());
  return v;
}

// The candidates sorted by value with their weights normalised, checked.
void sort_weighted(std::vector<double>& values, std::vector<double>& weights) {
  if (values.empty() || values.size() != weights.size()) {
    throw Error(fmt::format(
        "weighted win rate: got {} values and {} weights, expected the same non-zero number",
        values.size(), weights.size()));
  }
  check_finite(values);
  double total = 0;
  for (const double w : weights) {
    if (!(w >= 0) || !std::isfinite(w)) {
      throw Error(
          fmt::format("weighted win rate: a weight is {}; expected finite weights >= 0", w));
    }
    total += w;
  }
  if (!(total > 0)) throw Error("weighted win rate: the weights sum to 0");
  std::vector<std::size_t> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t i, std::size_t j) { return values[i] < values[j]; });
  std::vector<double> v(values.size()), w(values.size());
  for (std::size_t k = 0; k < order.size(); ++k) {
    v[k] = values[order[k]];
    w[k] = weights[order[k]] / total;
  }
  values = std::move(v);
  weights = std::move(w);
}

}  // namespace

double best_of_n_win_rate(std::vector<double> a, std::vector<double> b, std::int64_t n) {
  check_n(a.size(), b.size(), n);
  check_finite(a);
  check_finite(b);
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  return duel(subset_max_law(a, n), subset_max_law(b, n));
}

double worst_of_n_win_rate(std::vector<double> a, std::vector<double> b, std::int64_t n) {
  // min a > min b  <=>  max(-a) < max(-b): the complement of the best-of-n win of the negations.
  for (double& x : a) x = -x;
  for (double& x : b) x = -x;
  return 1.0 - best_of_n_win_rate(std::move(a), std::move(b), n);
}

double weighted_win_rate(std::vector<double> values, std::vector<double> weights,
                         std::vector<double> opponents, std::int64_t n, bool best) {
  check_n(opponents.size(), opponents.size(), n);
  check_finite(opponents);
  sort_weighted(values, weights);
  if (best) {
    std::sort(opponents.begin(), opponents.end());
    return duel(weighted_max_law(values, weights, n), subset_max_law(opponents, n));
  }
  // The worst of n is the best of n of the negations; the duel is then the other way round.
  std::reverse(values.begin(), values.end());
  std::reverse(weights.begin(), weights.end());
  for (double& x : values) x = -x;
  return 1.0 -
         duel(weighted_max_law(values, weights, n), subset_max_law(negated_sorted(opponents), n));
}

double brute_force_weighted_win_rate(const std::vector<double>& values,
                                     const std::vector<double>& weights,
                                     const std::vector<double>& opponents, std::int64_t n,
                                     bool best) {
  check_n(opponents.size(), opponents.size(), n);
  double total = 0;
  for (const double w : weights) total += w;
  // Every n-tuple of candidates (with replacement, probability the product of the weights)
  // against the extreme of every n-subset of the opponents.
  std::vector<double> opp;  // the opponents' extremes, one per subset
  std::vector<std::size_t> pick;
  std::function<void(std::size_t)> subsets = [&](std::size_t from) {
    if (static_cast<std::int64_t>(pick.size()) == n) {
      double e = opponents[pick[0]];
      for (const std::size_t i : pick)
        e = best ? std::max(e, opponents[i]) : std::min(e, opponents[i]);
      opp.push_back(e);
      return;
    }
    for (std::size_t i = from; i < opponents.size(); ++i) {
      pick.push_back(i);
      subsets(i + 1);
      pick.pop_back();
    }
  };
  subsets(0);
  double win = 0;
  std::vector<std::size_t> tuple(static_cast<std::size_t>(n), 0);
  while (true) {
    double p = 1, e = values[tuple[0]];
    for (const std::size_t i : tuple) {
      p *= weights[i] / total;
      e = best ? std::max(e, values[i]) : std::min(e, values[i]);
    }
    double score = 0;
    for (const double y : opp) score += e > y ? 1.0 : e == y ? 0.5 : 0.0;
    win += p * score / static_cast<double>(opp.size());
    std::size_t k = 0;  // next tuple, odometer order
    while (k < tuple.size() && ++tuple[k] == values.size()) tuple[k++] = 0;
    if (k == tuple.size()) break;
  }
  return win;
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

}  // namespace infalign::eval
