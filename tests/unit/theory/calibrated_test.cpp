#include "infalign/theory/calibrated.h"

#include <cmath>

#include <gtest/gtest.h>

#include "infalign/core/error.h"

namespace infalign::theory {
namespace {

const Transform kIdentity{Shape::Identity};
const Transform kLog{Shape::Log, 0, 0.5, 0.0, false};  // log u, no floor

TheoryPoint at(const Transform& phi, double kl, std::int64_t n) {
  return at_kl(PhiGrid(phi), kl, n);
}

TEST(TheoryTest, BaseAgainstBaseIsOneHalfForEveryN) {
  const Density base = Density::uniform(400000);
  EXPECT_NEAR(base.kl(), 0.0, 1e-15);
  EXPECT_NEAR(base.standard(), 0.5, 1e-9);
  for (std::int64_t n : {1, 2, 4, 8, 32}) {
    EXPECT_NEAR(base.best_of(n), 0.5, 1e-6) << n;
    EXPECT_NEAR(base.worst_of(n), 0.5, 1e-6) << n;
  }
  // beta -> infinity is the base too.
  const TheoryPoint far = evaluate(PhiGrid(Transform{Shape::Exp, 10.0}), 1e9, 4);
  EXPECT_NEAR(far.kl, 0.0, 1e-12);
  EXPECT_NEAR(far.bon, 0.5, 1e-6);
  EXPECT_NEAR(far.won, 0.5, 1e-6);
}

TEST(TheoryTest, IdentityClosedForms) {
  const PhiGrid grid(kIdentity);
  for (double lambda : {1.0, 2.0, 5.0, 10.0}) {
    const TheoryPoint p = evaluate(grid, 1 / lambda, 1);
    const double w1 = 1 / (1 - std::exp(-lambda)) - 1 / lambda;
    EXPECT_NEAR(p.standard, w1, 1e-6) << lambda;
    EXPECT_NEAR(p.kl, lambda * w1 - std::log(std::expm1(lambda) / lambda), 1e-6) << lambda;
    EXPECT_NEAR(p.bon, p.standard, 1e-9);  // N = 1
  }
  // docs/method.md section 6: lambda = 5 gives KL 0.650117, W_1 0.806784.
  const TheoryPoint p = evaluate(grid, 0.2, 1);
  EXPECT_NEAR(p.kl, 0.650117, 1e-6);
  EXPECT_NEAR(p.standard, 0.806784, 1e-6);
}

TEST(TheoryTest, LogPolicyIsBestOfMOfTheBase) {
  const PhiGrid grid(kLog);
  for (double m : {2.0, 4.0, 8.0}) {
    // lambda = M - 1: KL = log M - (M-1)/M, W_1 = W_N(BoN) = M/(M+1) for every N.
    for (std::int64_t n : {1, 2, 4, 8}) {
      const TheoryPoint p = evaluate(grid, 1 / (m - 1), n);
      EXPECT_NEAR(p.kl, std::log(m) - (m - 1) / m, 1e-6) << m;
      EXPECT_NEAR(p.standard, m / (m + 1), 1e-6) << m;
      EXPECT_NEAR(p.bon, m / (m + 1), 1e-6) << m << " " << n;
    }
  }
  // General lambda: KL = log(lambda+1) - lambda/(lambda+1), W_1 = (lambda+1)/(lambda+2).
  const TheoryPoint p = evaluate(grid, 1 / 2.5, 3);
  EXPECT_NEAR(p.kl, std::log(3.5) - 2.5 / 3.5, 1e-6);
  EXPECT_NEAR(p.standard, 3.5 / 4.5, 1e-6);
}

TEST(TheoryTest, SolvingForKlMatchesTheIdentityAndLogTable) {
  // Independently computed (fine quadrature): target KL -> (identity lambda, W_1), (log lambda,
  // W_1).
  const struct {
    double kl, id_lambda, id_w, log_lambda, log_w;
  } rows[] = {{0.10, 1.59768, 0.62780, 0.62123, 0.61850},
              {0.25, 2.65442, 0.69893, 1.22825, 0.69023},
              {0.50, 4.11848, 0.77373, 2.31445, 0.76822},
              {1.00, 7.34947, 0.86458, 5.30540, 0.86311},
              {2.00, 20.08554, 0.95021, 18.05884, 0.95015}};
  const PhiGrid id_grid(kIdentity), log_grid(kLog);
  for (const auto& r : rows) {
    const TheoryPoint id = at_kl(id_grid, r.kl, 1), lg = at_kl(log_grid, r.kl, 1);
    EXPECT_NEAR(id.kl, r.kl, 1e-9);
    EXPECT_NEAR(1 / id.beta, r.id_lambda, 1e-4 * r.id_lambda) << r.kl;
    EXPECT_NEAR(id.standard, r.id_w, 1e-5) << r.kl;
    EXPECT_NEAR(1 / lg.beta, r.log_lambda, 1e-4 * r.log_lambda) << r.kl;
    EXPECT_NEAR(lg.standard, r.log_w, 1e-5) << r.kl;
  }
}

TEST(TheoryTest, KlMatchedWinRatesReproduceTheTable) {
  // Independently computed (fine quadrature) rows (std, bon4, won4, bon8, won8) at the given KL, to
  // 1e-3.
  const struct {
    Transform phi;
    double kl, standard, bon4, won4, bon8, won8;
  } rows[] = {
      {kIdentity, 0.5, 0.7737, 0.7998, 0.8860, 0.8036, 0.9116},
      {kLog, 1.0, 0.8631, 0.8631, 0.9859, 0.8631, 0.9980},
      {{Shape::Exp, 10.0}, 0.5, 0.7117, 0.8715, 0.6763, 0.9037, 0.6667},
      {{Shape::Exp, 5.0}, 2.0, 0.9422, 0.9635, 0.9764, 0.9649, 0.9760},
      {{Shape::NegExp, 5.0}, 0.5, 0.7539, 0.7230, 0.9439, 0.7164, 0.9871},
      {{Shape::NegExp, 10.0}, 0.25, 0.6523, 0.6110, 0.8563, 0.6044, 0.9451},
      {{Shape::Probit}, 0.5, 0.7603, 0.8451, 0.8451, 0.8789, 0.8789},
      {{Shape::Logistic, 20.0, 0.9}, 0.5, 0.7210, 0.8595, 0.6866, 0.8749, 0.6764},
  };
  for (const auto& r : rows) {
    const PhiGrid grid(r.phi);
    const TheoryPoint p4 = at_kl(grid, r.kl, 4), p8 = at_kl(grid, r.kl, 8);
    EXPECT_NEAR(p4.standard, r.standard, 1e-3) << r.phi.describe();
    EXPECT_NEAR(p4.bon, r.bon4, 1e-3) << r.phi.describe();
    EXPECT_NEAR(p4.won, r.won4, 1e-3) << r.phi.describe();
    EXPECT_NEAR(p8.bon, r.bon8, 1e-3) << r.phi.describe();
    EXPECT_NEAR(p8.won, r.won8, 1e-3) << r.phi.describe();
  }
  // Probit: a mean shift raises max-of-N and min-of-N equally.
  const TheoryPoint probit = at(Transform{Shape::Probit}, 1.0, 32);
  EXPECT_NEAR(probit.bon, probit.won, 5e-4);
  // Normalised exp t = 10 at KL 0.5 needs beta 0.3184 (8.5); unnormalised e^(10u) ~7.0e3.
  EXPECT_NEAR(at(Transform{Shape::Exp, 10.0}, 0.5, 4).beta, 0.3184, 1e-4);
  EXPECT_NEAR(at(Transform{Shape::Exp, 10.0, 0.5, 0.0, false}, 0.5, 4).beta / 7.0e3, 1.0, 0.01);
}

TEST(TheoryTest, ScaleOfPhiOnlyRescalesBeta) {
  // a Phi + b at beta a gives the policy of Phi at beta 1.
  const PhiGrid norm(Transform{Shape::Exp, 4.0}), raw(Transform{Shape::Exp, 4.0, 0.5, 0, false});
  const double a = std::expm1(4.0);  // raw = a * norm + 1
  const TheoryPoint p = evaluate(norm, 0.3, 4), q = evaluate(raw, 0.3 * a, 4);
  EXPECT_NEAR(p.kl, q.kl, 1e-10);
  EXPECT_NEAR(p.bon, q.bon, 1e-10);
  EXPECT_NEAR(p.won, q.won, 1e-10);
}

TEST(TheoryTest, BestTForABudget) {
  // docs/method.md section 6: BoN N = 4, KL 0.5: t* 12.63, W 0.8727; WoN N = 4, KL 0.5: t* 9.68, W
  // 0.9476.
  const BestT bon = optimize_t(Shape::Exp, Procedure::BestOfN, 4, 0.5);
  EXPECT_GE(bon.t, 11.0);
  EXPECT_LE(bon.t, 14.0);
  EXPECT_NEAR(bon.t, 12.63, 0.1);
  EXPECT_NEAR(bon.point.bon, 0.8727, 1e-3);
  const BestT won = optimize_t(Shape::NegExp, Procedure::WorstOfN, 4, 0.5);
  EXPECT_NEAR(won.t, 9.68, 0.1);
  EXPECT_NEAR(won.point.won, 0.9476, 1e-3);
  EXPECT_NEAR(won.point.beta, 0.012996, 1e-5);
  const BestT bon2 = optimize_t(Shape::Exp, Procedure::BestOfN, 2, 0.25);
  EXPECT_NEAR(bon2.t, 4.06, 0.05);
  EXPECT_NEAR(bon2.point.bon, 0.7393, 1e-3);
}

TEST(TheoryTest, OptimalPolicyMatchesTheFrontierAndBoundsEveryTransform) {
  // Independently computed (ODE, adaptive RK): W* (beta*).
  const OptimalPoint b1 = optimal(Procedure::BestOfN, 1, 0.5);
  EXPECT_NEAR(b1.win, 0.77373, 1e-4);
  EXPECT_NEAR(b1.beta, 0.24281, 1e-4);
  const OptimalPoint b4 = optimal(Procedure::BestOfN, 4, 0.5);
  EXPECT_NEAR(b4.win, 0.87325, 1e-4);
  EXPECT_NEAR(b4.beta, 0.21661, 1e-4);
  const OptimalPoint w4 = optimal(Procedure::WorstOfN, 4, 0.5);
  EXPECT_NEAR(w4.win, 0.94789, 1e-4);
  EXPECT_NEAR(w4.beta, 0.20842, 1e-4);
  const OptimalPoint w2 = optimal(Procedure::WorstOfN, 2, 0.1);
  EXPECT_NEAR(w2.win, 0.67172, 1e-4);
  // No transform beats the optimum at the same KL; the tuned exponentials come within 0.001.
  EXPECT_LE(at(Transform{Shape::Exp, 12.63}, 0.5, 4).bon, b4.win + 1e-5);
  EXPECT_LE(at(kIdentity, 0.5, 4).won, w4.win + 1e-5);
  EXPECT_GT(at(Transform{Shape::NegExp, 9.68}, 0.5, 4).won, w4.win - 1e-3);
}

TEST(TheoryTest, MonteCarloDuelsAgreeWithTheIntegrals) {
  const PhiGrid grid(Transform{Shape::Exp, 10.0});
  const TheoryPoint p = at_kl(grid, 0.5, 4);
  const Density d(grid, 1 / p.beta);
  constexpr std::int64_t kDraws = 200000;
  const MonteCarlo mc = monte_carlo(d, 4, kDraws, 7);
  auto tol = [](double w) { return 4.5 * std::sqrt(w * (1 - w) / kDraws); };
  EXPECT_NEAR(mc.standard, p.standard, tol(p.standard));
  EXPECT_NEAR(mc.bon, p.bon, tol(p.bon));
  EXPECT_NEAR(mc.won, p.won, tol(p.won));
  // The sampler really follows p: a too-flat density would miss best-of-4 by far more.
  const Density flat(grid, 0.5 / p.beta);
  EXPECT_GT(std::abs(monte_carlo(flat, 4, kDraws, 7).bon - p.bon), 10 * tol(p.bon));
}

TEST(TheoryTest, GridIsFineEnoughForLargeT) {
  // Doubling the default grid moves the answer by < 1e-5 (docs/method.md section 5), also at t =
  // 300.
  const Transform phi{Shape::Exp, 300.0};
  const TheoryPoint a = at_kl(PhiGrid(phi), 0.5, 32);
  const TheoryPoint b = at_kl(PhiGrid(phi, 2 * default_grid_size(phi)), 0.5, 32);
  EXPECT_NEAR(a.bon, b.bon, 1e-5);
  EXPECT_NEAR(a.standard, b.standard, 1e-5);
}

TEST(TheoryTest, UnreachableKlIsAnError) {
  EXPECT_THROW(solve_beta(PhiGrid(kIdentity, 1000), 50.0), Error);
  EXPECT_THROW(solve_beta(PhiGrid(kIdentity), -1.0), Error);
}

}  // namespace
}  // namespace infalign::theory
