#include "infalign/eval/frontier.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "infalign/calibration/cache.h"
#include "infalign/calibration/transform.h"
#include "infalign/core/error.h"
#include "infalign/core/random.h"

namespace infalign::eval {

namespace {

void check_scores(const std::vector<double>& v, const char* what, std::size_t prompt) {
  for (const double x : v) {
    if (!std::isfinite(x)) {
      throw DataError(fmt::format(
          "oracle: prompt {}: a {} score is {}; expected finite judge scores (a diverged reward "
          "model?)",
          prompt, what, x));
    }
  }
}

}  // namespace

// ---- OracleTransform ---------------------------------------------------------------------------

OracleTransform OracleTransform::from_config(const config::TransformConfig& t, std::int64_t k) {
  OracleTransform out;
  out.config = t;
  if (t.kind != config::TransformKind::Raw) out.phi = calibration::make_transform(t, k);
  return out;
}

OracleTransform OracleTransform::parse(std::string_view spec, std::int64_t k) {
  config::TransformConfig t;
  if (auto error = config::parse_transform_spec(spec, t)) {
    throw ConfigError({"oracle transform: " + *error});
  }
  return from_config(t, k);
}

std::string OracleTransform::describe() const { return phi ? phi->describe() : "raw reward"; }

// ---- Oracle ------------------------------------------------------------------------------------

Oracle::Oracle(const std::vector<OracleSamples>& prompts, OracleTransform transform,
               std::vector<std::int64_t> ns, bool leave_one_out)
    : transform_(std::move(transform)), ns_(std::move(ns)) {
  if (prompts.empty()) throw Error("oracle: no prompts");
  double spread_sum = 0;
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    const OracleSamples& s = prompts[i];
    if (s.candidates.empty()) {
      throw Error(fmt::format("oracle: prompt {} has no candidates; expected at least one", i));
    }
    if (transform_.phi && leave_one_out && s.candidates.size() < 2) {
      throw Error(
          fmt::format("oracle: prompt {} has {} candidates; leave-one-out calibration needs 2", i,
                      s.candidates.size()));
    }
    if (transform_.phi && !leave_one_out && s.calibration.empty()) {
      throw Error(
          fmt::format("oracle: prompt {} has no calibration rewards; the transform {} needs u", i,
                      transform_.describe()));
    }
    check_scores(s.candidates, "candidate", i);
    check_scores(s.calibration, "calibration", i);
    check_scores(s.opponents, "opponent", i);
    for (const std::int64_t n : ns_) {
      if (n < 1 || static_cast<std::size_t>(n) > s.opponents.size()) {
        throw Error(fmt::format(
            "oracle: prompt {}: best/worst of N = {} needs 1 <= N <= the opponents per prompt "
            "({})",
            i, n, s.opponents.size()));
      }
    }
    Prompt p;
    p.values = s.candidates;
    std::sort(p.values.begin(), p.values.end());
    p.opponents = s.opponents;
    std::sort(p.opponents.begin(), p.opponents.end());
    for (const double r : p.values) {
      double u = 0;
      if (transform_.phi && leave_one_out) {
        // The mid-rank among the other candidates: a calibration set of M - 1 for each.
        const auto lo = std::lower_bound(p.values.begin(), p.values.end(), r) - p.values.begin();
        const auto hi = std::upper_bound(p.values.begin(), p.values.end(), r) - p.values.begin();
        u = (static_cast<double>(lo) + 0.5 * static_cast<double>(hi - lo - 1)) /
            static_cast<double>(p.values.size() - 1);
      } else if (transform_.phi) {
        u = calibration::calibrated_reward(s.calibration, r, false);
      }
      p.rewards.push_back(transform_.phi ? (*transform_.phi)(u) : r);
    }
    const double top = *std::max_element(p.rewards.begin(), p.rewards.end());
    const double bottom = *std::min_element(p.rewards.begin(), p.rewards.end());
    const auto best = std::count(p.rewards.begin(), p.rewards.end(), top);
    max_kl_ += std::log(static_cast<double>(p.rewards.size()) / static_cast<double>(best));
    spread_sum += top - bottom;
    prompts_.push_back(std::move(p));
  }
  max_kl_ /= static_cast<double>(prompts_.size());
  scale_ = spread_sum > 0 ? spread_sum / static_cast<double>(prompts_.size()) : 1.0;
}

std::vector<double> Oracle::weights(const Prompt& p, double beta) const {
  std::vector<double> w(p.rewards.size());
  const double top = *std::max_element(p.rewards.begin(), p.rewards.end());
  double z = 0;
  for (std::size_t i = 0; i < w.size(); ++i) z += w[i] = std::exp((p.rewards[i] - top) / beta);
  for (double& x : w) x /= z;
  return w;
}

double Oracle::kl(double beta) const { return kl_and_slope(1.0 / beta).first; }

std::pair<double, double> Oracle::kl_and_slope(double lambda) const {
  // Per prompt, with w ~ exp(lambda R): KL = lambda E_w[R] - log Z + log M and
  // dKL / dlambda = lambda Var_w[R].
  double kl = 0, slope = 0;
  for (const Prompt& p : prompts_) {
    const double top = *std::max_element(p.rewards.begin(), p.rewards.end());
    double z = 0, first = 0, second = 0;
    for (const double r : p.rewards) {
      const double d = r - top;
      const double w = std::exp(lambda * d);
      z += w;
      first += w * d;
      second += w * d * d;
    }
    const double mean = first / z, var = std::max(0.0, second / z - mean * mean);
    kl += lambda * mean - std::log(z) + std::log(static_cast<double>(p.rewards.size()));
    slope += lambda * var;
  }
  const double n = static_cast<double>(prompts_.size());
  return {std::max(0.0, kl / n), slope / n};
}

double Oracle::solve_beta(double target) const {
  if (!(target > 0) || !(target < max_kl_)) {
    throw Error(fmt::format(
        "oracle {}: cannot reach KL {:.4g}; with these candidates the reweighted KL is below "
        "{:.4g} (at most log M per prompt): raise the candidates per prompt",
        transform_.describe(), target, max_kl_));
  }
  // The KL rises with lambda = 1 / beta: bracket, then Newton on log lambda, kept inside the
  // bracket (bisection when a step leaves it).
  double lo = 1.0 / scale_, hi = 1.0 / scale_;
  for (int i = 0; i < 400 && kl_and_slope(lo).first >= target; ++i) lo *= 0.5;
  for (int i = 0; i < 400 && kl_and_slope(hi).first <= target; ++i) hi *= 2;
  double x = std::sqrt(lo * hi);
  for (int i = 0; i < 200; ++i) {
    const auto [kl, slope] = kl_and_slope(x);
    if (std::abs(kl - target) <= 1e-12 * std::max(1.0, target)) break;
    (kl < target ? lo : hi) = x;
    double next = slope > 0 ? x * std::exp((target - kl) / (slope * x)) : 0.0;
    if (!(next > lo && next < hi)) next = std::sqrt(lo * hi);
    if (std::abs(next - x) <= 1e-13 * x) break;
    x = next;
  }
  return 1.0 / x;
}

OracleRates Oracle::at_beta(double beta) const {
  OracleRates out;
  out.beta = beta;
  out.kl = kl(beta);
  out.n = ns_;
  out.best_per_prompt.assign(ns_.size(), {});
  out.worst_per_prompt.assign(ns_.size(), {});
  for (const Prompt& p : prompts_) {
    const std::vector<double> w = weights(p, beta);
    for (std::size_t k = 0; k < ns_.size(); ++k) {
      const double best = weighted_win_rate(p.values, w, p.opponents, ns_[k], true);
      out.best_per_prompt[k].push_back(best);
      out.worst_per_prompt[k].push_back(
          ns_[k] == 1 ? best : weighted_win_rate(p.values, w, p.opponents, ns_[k], false));
    }
  }
  for (std::size_t k = 0; k < ns_.size(); ++k) {
    out.best.push_back(mean_and_se(out.best_per_prompt[k]));
    out.worst.push_back(mean_and_se(out.worst_per_prompt[k]));
  }
  return out;
}

std::optional<Estimate> gain_fraction(const std::vector<double>& policy,
                                      const std::vector<double>& oracle, std::int64_t resamples,
                                      double confidence, std::uint64_t seed, double min_gain) {
  INFALIGN_CHECK(policy.size() == oracle.size() && !policy.empty(),
                 "gain_fraction: {} policy and {} oracle values per prompt", policy.size(),
                 oracle.size());
  const std::size_t n = policy.size();
  auto ratio = [&](const std::vector<std::size_t>* pick) {
    double a = 0, b = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t k = pick != nullptr ? (*pick)[i] : i;
      a += policy[k];
      b += oracle[k];
    }
    a /= static_cast<double>(n);
    b /= static_cast<double>(n);
    return std::make_pair(a - 0.5, b - 0.5);
  };
  const auto [gain, oracle_gain] = ratio(nullptr);
  if (!(std::abs(oracle_gain) >= min_gain)) return std::nullopt;
  std::vector<double> values;
  if (n > 1) {
    SplitMix64 rng(seed);
    std::vector<std::size_t> pick(n);
    for (std::int64_t r = 0; r < resamples; ++r) {
      for (std::size_t& i : pick) i = rng.below(n);
      const auto [g, o] = ratio(&pick);
      if (std::abs(o) >= min_gain) values.push_back(g / o);
    }
  }
  return bootstrap_interval(gain / oracle_gain, std::move(values), confidence);
}

std::vector<OracleSamples> synthetic_uniform_samples(std::int64_t prompts, std::int64_t calibration,
                                                     std::int64_t candidates,
                                                     std::int64_t opponents, std::uint64_t seed) {
  SplitMix64 rng(seed);
  std::vector<OracleSamples> out(static_cast<std::size_t>(std::max<std::int64_t>(0, prompts)));
  auto draw = [&](std::int64_t count) {
    std::vector<double> v(static_cast<std::size_t>(std::max<std::int64_t>(0, count)));
    for (double& x : v) x = rng.uniform();
    return v;
  };
  for (OracleSamples& s : out) {
    s.calibration = draw(calibration);
    std::sort(s.calibration.begin(), s.calibration.end());
    s.candidates = draw(candidates);
    s.opponents = draw(opponents);
  }
  return out;
}

}  // namespace infalign::eval
