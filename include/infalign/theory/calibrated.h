// Calibrated-space analytics (docs/method.md section 5): with the reward calibrated against the
// base policy, u is Uniform[0, 1] under the base, and the RLHF policy for a transform Phi and a
// KL coefficient beta induces on u the density p(u) = exp(Phi(u) / beta) / Z. Its KL to the base
// and its standard, best-of-N and worst-of-N win rates against the base depend on (Phi, beta, N)
// alone. Everything here is a midpoint quadrature on a grid fine enough for 1e-4 absolute.
#pragma once

#include <cstdint>
#include <vector>

#include "infalign/theory/transform.h"

namespace infalign::theory {

enum class Procedure { BestOfN, WorstOfN };

// Grid points used for a transform: max(400,000, 2,000 t) for the sharp shapes (the layer of
// width ~1/t near u = 1 or 0 must be resolved), 400,000 otherwise.
std::int64_t default_grid_size(const Transform& phi);

// Phi sampled on the midpoint grid u_i = (i + 1/2) / M.
class PhiGrid {
 public:
  explicit PhiGrid(const Transform& phi, std::int64_t m = 0);  // m = 0: default_grid_size
  std::int64_t size() const { return static_cast<std::int64_t>(phi_.size()); }
  double u(std::int64_t i) const { return (static_cast<double>(i) + 0.5) * du_; }
  double du() const { return du_; }
  const std::vector<double>& values() const { return phi_; }
  double range() const { return max_ - min_; }  // max Phi - min Phi on the grid

 private:
  std::vector<double> phi_;
  double du_ = 0, min_ = 0, max_ = 0;
};

// The density p(u) proportional to exp(lambda * Phi(u)), lambda = 1 / beta, on a grid.
class Density {
 public:
  Density(const PhiGrid& grid, double lambda);
  // The base policy itself: p = 1.
  static Density uniform(std::int64_t m);

  double kl() const { return kl_; }             // KL(p || Uniform) = KL(policy || base)
  double variance_phi() const { return var_; }  // Var_p[Phi]; dKL/dlambda = lambda * Var
  double standard() const;                      // P(U > V), V ~ Uniform, ties half
  double best_of(std::int64_t n) const;         // max of n policy draws vs max of n base
  double worst_of(std::int64_t n) const;        // min of n policy draws vs min of n base
  double win_rate(Procedure p, std::int64_t n) const {
    return p == Procedure::BestOfN ? best_of(n) : worst_of(n);
  }
  // Inverse CDF (linear within a grid cell): maps a Uniform[0, 1) draw to a draw of u.
  double quantile(double uniform) const;

 private:
  Density() = default;
  void finish();
  double du_ = 0;
  std::vector<double> p_, below_, above_;  // density, and mass below / above each midpoint
  std::vector<double> edge_cdf_;           // CDF at the cell edges, size M + 1
  double kl_ = 0, var_ = 0;
};

// One point of a transform's frontier.
struct TheoryPoint {
  double beta = 0, kl = 0, standard = 0, bon = 0, won = 0;
  std::int64_t n = 1;
};

TheoryPoint evaluate(const PhiGrid& grid, double beta, std::int64_t n);
// The largest KL the grid resolves (the policy at lambda = e^40 / range of Phi).
double reachable_kl(const PhiGrid& grid);
// Beta (= 1 / lambda) at which KL(p || Uniform) equals `kl` (safeguarded Newton on log lambda;
// throws if the grid cannot reach that KL).
double solve_beta(const PhiGrid& grid, double kl);
TheoryPoint at_kl(const PhiGrid& grid, double kl, std::int64_t n);

// The t of `shape` (exp, negexp or logistic with centre c) that maximises the procedure's
// win rate at the given KL: a scan over t in [0.25, 2048], then golden section on log t to a
// relative tolerance of 1e-3. For n = 1 the optimum is t -> 0 (the identity); the answer is then
// the lower end of the scan.
struct BestT {
  double t = 0;
  TheoryPoint point;
};
BestT optimize_t(Shape shape, Procedure procedure, std::int64_t n, double kl, double c = 0.5,
                 bool normalize = true);

// The optimal policy for best-of-N or worst-of-N at a KL budget (section 5.3): the ODE
//   BoN: F'' = F' N^2 u^(N-1) F^(N-1) / beta,  WoN: F'' = F' N^2 (1-u)^(N-1) (1-F)^(N-1) / beta
// with F(0) = 0, F(1) = 1, by shooting on log p(0) and bisection on log beta for the KL.
// `beta` is the multiplier of W - beta KL.
struct OptimalPoint {
  double beta = 0, kl = 0, win = 0;
};
OptimalPoint optimal(Procedure procedure, std::int64_t n, double kl, std::int64_t steps = 4000);

// Monte Carlo estimate of the standard, best-of-n and worst-of-n win rates of `density` against
// the base, by inverse-CDF sampling and simulated duels (the check of the integrals).
struct MonteCarlo {
  double standard = 0, bon = 0, won = 0;
};
MonteCarlo monte_carlo(const Density& density, std::int64_t n, std::int64_t draws,
                       std::uint64_t seed);

}  // namespace infalign::theory
