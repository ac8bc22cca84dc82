#include "infalign/theory/calibrated.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "infalign/core/error.h"
#include "infalign/core/random.h"

namespace infalign::theory {

namespace {

// x^n for a small non-negative integer n (0^0 = 1), exact where std::pow is not required.
double ipow(double x, std::int64_t n) {
  double r = 1.0;
  while (n > 0) {
    if (n & 1) r *= x;
    x *= x;
    n >>= 1;
  }
  return r;
}

bool sharp(Shape s) { return s == Shape::Exp || s == Shape::NegExp || s == Shape::Logistic; }

// KL(p || Uniform) and Var_p[Phi] of p proportional to exp(lambda Phi) in one pass without
// storing p (the inner loop of solving for beta).
struct KlVar {
  double kl = 0, var = 0;
};

KlVar kl_and_variance(const PhiGrid& grid, double lambda) {
  const auto& phi = grid.values();
  double top = -std::numeric_limits<double>::infinity();
  for (double v : phi) top = std::max(top, v);
  // With x_i = Phi_i - max Phi <= 0 and e_i = exp(lambda x_i):
  // KL = lambda E[x] - log(sum e du), Var = E[x^2] - E[x]^2.
  double sum = 0, sx = 0, sxx = 0;
  for (double v : phi) {
    const double x = v - top;
    const double e = std::exp(lambda * x);
    sum += e;
    sx += e * x;
    sxx += e * x * x;
  }
  const double mean = sx / sum;
  return {std::max(0.0, lambda * mean - std::log(sum * grid.du())),
          std::max(0.0, sxx / sum - mean * mean)};
}

}  // namespace

std::int64_t default_grid_size(const Transform& phi) {
  constexpr std::int64_t kBase = 400000;
  if (!sharp(phi.shape)) return kBase;
  return std::max<std::int64_t>(kBase, static_cast<std::int64_t>(std::ceil(2000.0 * phi.t)));
}

PhiGrid::PhiGrid(const Transform& phi, std::int64_t m) {
  phi.validate();
  if (m <= 0) m = default_grid_size(phi);
  INFALIGN_CHECK(m >= 2, "PhiGrid needs at least 2 points");
  du_ = 1.0 / static_cast<double>(m);
  phi_.resize(static_cast<std::size_t>(m));
  min_ = std::numeric_limits<double>::infinity();
  max_ = -min_;
  for (std::int64_t i = 0; i < m; ++i) {
    const double v = phi(u(i));
    if (!std::isfinite(v)) {
      throw Error(fmt::format("transform {} is not finite at u = {}", phi.describe(), u(i)));
    }
    phi_[static_cast<std::size_t>(i)] = v;
    min_ = std::min(min_, v);
    max_ = std::max(max_, v);
  }
}

Density::Density(const PhiGrid& grid, double lambda) {
  INFALIGN_CHECK(lambda >= 0 && std::isfinite(lambda), "Density needs a finite lambda >= 0");
  du_ = grid.du();
  const auto& phi = grid.values();
  const std::size_t m = phi.size();
  // log-sum-exp: w_i = lambda Phi_i.
  double w_max = -std::numeric_limits<double>::infinity();
  for (double v : phi) w_max = std::max(w_max, lambda * v);
  double sum = 0;
  for (double v : phi) sum += std::exp(lambda * v - w_max);
  // log p_i = (w_i - max w) - log(sum du), never a difference of two large numbers.
  const double log_norm = std::log(sum * du_);
  p_.resize(m);
  double kl = 0, mean = 0;
  for (std::size_t i = 0; i < m; ++i) {
    const double log_p = (lambda * phi[i] - w_max) - log_norm;
    p_[i] = std::exp(log_p);
    kl += p_[i] * log_p;
    mean += p_[i] * phi[i];
  }
  kl_ = std::max(0.0, kl * du_);
  mean *= du_;
  double var = 0;
  for (std::size_t i = 0; i < m; ++i) var += p_[i] * (phi[i] - mean) * (phi[i] - mean);
  var_ = var * du_;
  finish();
}

Density Density::uniform(std::int64_t m) {
  INFALIGN_CHECK(m >= 2, "Density::uniform needs at least 2 points");
  Density d;
  d.du_ = 1.0 / static_cast<double>(m);
  d.p_.assign(static_cast<std::size_t>(m), 1.0);
  d.finish();
  return d;
}

void Density::finish() {
  const std::size_t m = p_.size();
  below_.resize(m);
  above_.resize(m);
  edge_cdf_.resize(m + 1);
  // Mass below / above the midpoints, each summed from its own end so that the small tail
  // (1 - F near u = 1 for worst-of-N) keeps its relative precision.
  double acc = 0;
  for (std::size_t i = 0; i < m; ++i) {
    edge_cdf_[i] = acc;
    below_[i] = acc + 0.5 * p_[i] * du_;
    acc += p_[i] * du_;
  }
  edge_cdf_[m] = acc;
  acc = 0;
  for (std::size_t i = m; i-- > 0;) {
    above_[i] = acc + 0.5 * p_[i] * du_;
    acc += p_[i] * du_;
  }
}

double Density::standard() const {
  double w = 0;
  for (std::size_t i = 0; i < p_.size(); ++i) w += (static_cast<double>(i) + 0.5) * du_ * p_[i];
  return w * du_;
}

double Density::best_of(std::int64_t n) const {
  INFALIGN_CHECK(n >= 1, "best_of needs n >= 1");
  // W = 1 - int N u^(N-1) F(u)^N du.
  double s = 0;
  const auto nd = static_cast<double>(n);
  for (std::size_t i = 0; i < p_.size(); ++i) {
    const double u = (static_cast<double>(i) + 0.5) * du_;
    s += nd * ipow(u, n - 1) * ipow(below_[i], n);
  }
  return 1.0 - s * du_;
}

double Density::worst_of(std::int64_t n) const {
  INFALIGN_CHECK(n >= 1, "worst_of needs n >= 1");
  // W = int N (1-u)^(N-1) (1 - F(u))^N du.
  double s = 0;
  const auto nd = static_cast<double>(n);
  for (std::size_t i = 0; i < p_.size(); ++i) {
    const double u = (static_cast<double>(i) + 0.5) * du_;
    s += nd * ipow(1.0 - u, n - 1) * ipow(above_[i], n);
  }
  return s * du_;
}

double Density::quantile(double x) const {
  const double total = edge_cdf_.back();
  x = std::clamp(x * total, 0.0, total);
  auto it = std::upper_bound(edge_cdf_.begin(), edge_cdf_.end(), x);
  std::size_t k = static_cast<std::size_t>(std::max<std::ptrdiff_t>(it - edge_cdf_.begin(), 1)) - 1;
  k = std::min(k, p_.size() - 1);
  const double cell = p_[k] * du_;
  const double frac = cell > 0 ? std::clamp((x - edge_cdf_[k]) / cell, 0.0, 1.0) : 0.5;
  return (static_cast<double>(k) + frac) * du_;
}

TheoryPoint evaluate(const PhiGrid& grid, double beta, std::int64_t n) {
  INFALIGN_CHECK(beta > 0, "evaluate needs beta > 0");
  const Density d(grid, 1.0 / beta);
  return {beta, d.kl(), d.standard(), d.best_of(n), d.worst_of(n), n};
}

double reachable_kl(const PhiGrid& grid) {
  if (!(grid.range() > 0)) return 0.0;
  return kl_and_variance(grid, std::exp(40.0 - std::log(grid.range()))).kl;
}

double solve_beta(const PhiGrid& grid, double kl) {
  if (!(kl > 0) || !std::isfinite(kl)) {
    throw Error(fmt::format("target KL = {}; expected a finite KL > 0", kl));
  }
  const double range = grid.range();
  if (!(range > 0)) throw Error("the transform is constant: no beta reaches a KL above 0");
  // s = log lambda; KL increases with lambda, so bracket and use safeguarded Newton
  // (dKL/ds = lambda^2 Var_p[Phi]).
  double lo = -12.0 - std::log(range), hi = 40.0 - std::log(range);
  const double kl_hi = reachable_kl(grid);
  if (kl_hi <= kl) {
    throw Error(
        fmt::format("target KL {} is beyond what this grid can express (at most {:.4f}); "
                    "expected a smaller KL",
                    kl, kl_hi));
  }
  // Start from the small-KL approximation KL ~ lambda^2 Var_uniform[Phi] / 2.
  double mean = 0, sq = 0;
  for (double v : grid.values()) mean += v;
  mean /= static_cast<double>(grid.size());
  for (double v : grid.values()) sq += (v - mean) * (v - mean);
  const double var_uniform = sq / static_cast<double>(grid.size());
  double s = std::clamp(0.5 * std::log(2.0 * kl / var_uniform), lo + 1e-9, hi - 1e-9);
  for (int iter = 0; iter < 200; ++iter) {
    const double lambda = std::exp(s);
    const KlVar d = kl_and_variance(grid, lambda);
    const double f = d.kl - kl;
    if (std::abs(f) <= 1e-13 * std::max(1.0, kl)) break;
    (f < 0 ? lo : hi) = s;
    const double slope = lambda * lambda * d.var;
    double next = slope > 0 ? s - f / slope : 0.5 * (lo + hi);
    if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
    if (hi - lo < 1e-14) break;
    s = next;
  }
  return std::exp(-s);
}

TheoryPoint at_kl(const PhiGrid& grid, double kl, std::int64_t n) {
  return evaluate(grid, solve_beta(grid, kl), n);
}

BestT optimize_t(Shape shape, Procedure procedure, std::int64_t n, double kl, double c,
                 bool normalize) {
  if (!sharp(shape)) {
    throw Error(
        fmt::format("optimising t needs exp, negexp or logistic, not {}", shape_name(shape)));
  }
  // A t whose Phi saturates in double precision (negexp with a large t is flat near u = 1)
  // cannot reach a large KL at all: it scores -1, never the optimum.
  auto win = [&](double t, std::int64_t m) {
    Transform phi{shape, t, c, 0.0, normalize};
    const PhiGrid grid(phi, m);
    if (reachable_kl(grid) <= kl) return std::make_pair(-1.0, TheoryPoint{});
    const TheoryPoint pt = at_kl(grid, kl, n);
    return std::make_pair(procedure == Procedure::BestOfN ? pt.bon : pt.won, pt);
  };
  // Coarse scan on a factor-sqrt(2) ladder, on a coarser grid (the optimum is flat).
  constexpr double kMinT = 0.25;
  constexpr int kSteps = 27;  // up to 0.25 * 2^13 = 2048
  std::vector<double> ts, ws;
  for (int k = 0; k < kSteps; ++k) {
    const double t = kMinT * std::pow(2.0, 0.5 * k);
    ts.push_back(t);
    ws.push_back(win(t, std::max<std::int64_t>(50000, static_cast<std::int64_t>(250 * t))).first);
  }
  const auto best = static_cast<std::size_t>(std::max_element(ws.begin(), ws.end()) - ws.begin());
  double a = std::log(ts[best == 0 ? 0 : best - 1]);
  double b = std::log(ts[std::min(best + 1, ts.size() - 1)]);
  // Golden section on log t at full resolution.
  const double g = 0.5 * (std::sqrt(5.0) - 1.0);
  double x1 = b - g * (b - a), x2 = a + g * (b - a);
  double f1 = win(std::exp(x1), 0).first, f2 = win(std::exp(x2), 0).first;
  while (b - a > 1e-3) {
    if (f1 >= f2) {
      b = x2;
      x2 = x1;
      f2 = f1;
      x1 = b - g * (b - a);
      f1 = win(std::exp(x1), 0).first;
    } else {
      a = x1;
      x1 = x2;
      f1 = f2;
      x2 = a + g * (b - a);
      f2 = win(std::exp(x2), 0).first;
    }
  }
  const double t = std::exp(0.5 * (a + b));
  return {t, win(t, 0).second};
}

namespace {

// One shot of the optimal-policy ODE from log p(0) = log_a: returns F(1), KL and W, or
// F > 1 early (a too large) as soon as it happens.
struct Shot {
  bool overshoot = false;
  double f = 0, kl = 0, win = 0;
};

struct OdeSetup {
  Procedure procedure;
  std::int64_t n;
  std::int64_t steps;
  std::vector<double> weight;  // N^2 u^(N-1) (BoN) or N^2 (1-u)^(N-1) (WoN) at half steps
  std::vector<double> payoff;  // N u^N (BoN) or N (1 - (1-u)^N) (WoN) at half steps
};

Shot shoot(const OdeSetup& s, double beta, double log_a) {
  const double h = 1.0 / static_cast<double>(s.steps);
  const bool bon = s.procedure == Procedure::BestOfN;
  // y = (F, log p, int p log p, int win integrand).
  auto deriv = [&](std::size_t half, const double* y, double* dy) {
    const double p = std::exp(y[1]);
    const double f = std::clamp(y[0], 0.0, 1.0);
    const double g = bon ? f : 1.0 - f;
    const double gpow = ipow(g, s.n - 1);
    dy[0] = p;
    dy[1] = s.weight[half] * gpow / beta;
    dy[2] = p * y[1];
    dy[3] = s.payoff[half] * gpow * p;
  };
  double y[4] = {0.0, log_a, 0.0, 0.0};
  double k1[4], k2[4], k3[4], k4[4], t[4];
  for (std::int64_t i = 0; i < s.steps; ++i) {
    const auto j = static_cast<std::size_t>(2 * i);
    deriv(j, y, k1);
    for (int q = 0; q < 4; ++q) t[q] = y[q] + 0.5 * h * k1[q];
    deriv(j + 1, t, k2);
    for (int q = 0; q < 4; ++q) t[q] = y[q] + 0.5 * h * k2[q];
    deriv(j + 1, t, k3);
    for (int q = 0; q < 4; ++q) t[q] = y[q] + h * k3[q];
    deriv(j + 2, t, k4);
    for (int q = 0; q < 4; ++q) y[q] += h / 6.0 * (k1[q] + 2 * k2[q] + 2 * k3[q] + k4[q]);
    if (y[0] > 1.0 + 1e-12) return {true, y[0], 0, 0};
  }
  return {false, y[0], y[2], y[3]};
}

// Solves for p(0) so that F(1) = 1 at this beta.
Shot solve_shot(const OdeSetup& s, double beta) {
  double lo = -50.0, hi = 0.0;
  while (true) {
    const Shot shot = shoot(s, beta, lo);
    if (!shot.overshoot && shot.f < 1.0) break;
    hi = lo;
    lo *= 2;
    if (lo < -1e7) throw Error("optimal policy: no initial density found (beta too small)");
  }
  Shot best;
  for (int iter = 0; iter < 80 && hi - lo > 1e-13 * std::max(1.0, std::abs(lo)); ++iter) {
    const double mid = 0.5 * (lo + hi);
    const Shot shot = shoot(s, beta, mid);
    if (shot.overshoot || shot.f > 1.0) {
      hi = mid;
    } else {
      lo = mid;
      best = shot;
    }
  }
  if (best.f == 0) best = shoot(s, beta, lo);
  return best;
}

}  // namespace

OptimalPoint optimal(Procedure procedure, std::int64_t n, double kl, std::int64_t steps) {
  INFALIGN_CHECK(n >= 1 && steps >= 10, "optimal needs n >= 1 and steps >= 10");
  if (!(kl > 0) || !std::isfinite(kl)) {
    throw Error(fmt::format("target KL = {}; expected a finite KL > 0", kl));
  }
  OdeSetup s{procedure, n, steps, {}, {}};
  const auto nd = static_cast<double>(n);
  for (std::int64_t j = 0; j <= 2 * steps; ++j) {
    const double u = static_cast<double>(j) / static_cast<double>(2 * steps);
    const double base = procedure == Procedure::BestOfN ? u : 1.0 - u;
    s.weight.push_back(nd * nd * ipow(base, n - 1));
    s.payoff.push_back(procedure == Procedure::BestOfN ? nd * ipow(u, n)
                                                       : nd * (1.0 - ipow(1.0 - u, n)));
  }
  // KL decreases as beta grows: bisection on log beta.
  double lo = std::log(1e-5), hi = std::log(1e3);
  Shot shot;
  double beta = 0;
  for (int iter = 0; iter < 60; ++iter) {
    const double mid = 0.5 * (lo + hi);
    beta = std::exp(mid);
    shot = solve_shot(s, beta);
    if (std::abs(shot.kl - kl) <= 1e-10 * std::max(1.0, kl)) break;
    (shot.kl > kl ? lo : hi) = mid;
    if (hi - lo < 1e-12) break;
  }
  if (std::abs(shot.kl - kl) > 1e-4 * std::max(1.0, kl)) {
    throw Error(fmt::format("optimal policy: KL {} not reached (got {:.6f} at beta {:.3g})", kl,
                            shot.kl, beta));
  }
  return {beta, shot.kl, shot.win};
}

MonteCarlo monte_carlo(const Density& density, std::int64_t n, std::int64_t draws,
                       std::uint64_t seed) {
  INFALIGN_CHECK(n >= 1 && draws >= 1, "monte_carlo needs n >= 1 and draws >= 1");
  SplitMix64 rng(seed);
  auto duel = [](double a, double b) { return a > b ? 1.0 : a == b ? 0.5 : 0.0; };
  double standard = 0, bon = 0, won = 0;
  for (std::int64_t d = 0; d < draws; ++d) {
    standard += duel(density.quantile(rng.uniform()), rng.uniform());
    double pmax = 0, bmax = 0, pmin = 1, bmin = 1;
    for (std::int64_t k = 0; k < n; ++k) {
      pmax = std::max(pmax, density.quantile(rng.uniform()));
      bmax = std::max(bmax, rng.uniform());
      pmin = std::min(pmin, density.quantile(rng.uniform()));
      bmin = std::min(bmin, rng.uniform());
    }
    bon += duel(pmax, bmax);
    won += duel(pmin, bmin);
  }
  const auto nd = static_cast<double>(draws);
  return {standard / nd, bon / nd, won / nd};
}

}  // namespace infalign::theory
