#include "infalign/theory/transform.h"

#include <algorithm>
#include <cmath>

#include <gtest/gtest.h>

#include "infalign/config/names.h"
#include "infalign/config/transform_config.h"
#include "infalign/core/error.h"

namespace infalign::theory {
namespace {

// One vocabulary: every transform.kind of the config but raw is a theory shape of the same
// name, so the config, the theory tool and the oracle CLI accept the same words.
TEST(TransformVocabularyTest, ConfigKindsAreTheoryShapesByName) {
  std::vector<std::string> kinds = config::enum_names<config::TransformKind>();
  ASSERT_EQ(kinds.front(), "raw");
  const std::vector<std::string> shapes = shape_names();
  for (std::size_t i = 1; i < kinds.size(); ++i) {
    EXPECT_EQ(shape_name(parse_shape(kinds[i])), kinds[i]);
    EXPECT_NE(std::find(shapes.begin(), shapes.end(), kinds[i]), shapes.end()) << kinds[i];
  }
  // The shapes the config lacks are the theory tool's own (probit).
  EXPECT_EQ(shapes.size(),
            kinds.size());  // identity..logistic + probit vs raw + identity..logistic
  try {
    parse_shape("bon");
    ADD_FAILURE() << "an unknown transform parsed";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("identity, log, exp, negexp, logistic, probit"),
              std::string::npos)
        << e.what();
  }
}

TEST(TransformTest, HandComputedValues) {
  EXPECT_DOUBLE_EQ((Transform{Shape::Identity})(0.3), 0.3);
  // exp, t = 2: (e^(2u) - 1) / (e^2 - 1) and e^(2u).
  EXPECT_NEAR((Transform{Shape::Exp, 2.0})(0.5), (std::exp(1.0) - 1) / (std::exp(2.0) - 1), 1e-15);
  EXPECT_NEAR((Transform{Shape::Exp, 2.0, 0.5, 0.0, false})(0.5), std::exp(1.0), 1e-15);
  // negexp, t = 3: (1 - e^(-3u)) / (1 - e^(-3)) and -e^(-3u).
  EXPECT_NEAR((Transform{Shape::NegExp, 3.0})(0.25), (1 - std::exp(-0.75)) / (1 - std::exp(-3.0)),
              1e-15);
  EXPECT_NEAR((Transform{Shape::NegExp, 3.0, 0.5, 0.0, false})(0.25), -std::exp(-0.75), 1e-15);
  // logistic, t = 10, c = 0.8 at u = 0.8: (1/2 - s(-8)) / (s(2) - s(-8)).
  const auto s = [](double x) { return 1 / (1 + std::exp(-x)); };
  EXPECT_NEAR((Transform{Shape::Logistic, 10.0, 0.8})(0.8), (0.5 - s(-8)) / (s(2) - s(-8)), 1e-14);
  EXPECT_NEAR((Transform{Shape::Logistic, 10.0, 0.8, 0.0, false})(0.8), 0.5, 1e-15);
  // log with floor 1/128: (log max(u, eps) - log eps) / -log eps.
  const Transform log_floor{Shape::Log, 0, 0.5, 1.0 / 128};
  EXPECT_NEAR(log_floor(0.25), (std::log(0.25) + std::log(128.0)) / std::log(128.0), 1e-15);
  EXPECT_DOUBLE_EQ(log_floor(0.001), 0.0);                          // below the floor
  EXPECT_NEAR((Transform{Shape::Log})(0.5), std::log(0.5), 1e-15);  // no floor: log u
}

TEST(TransformTest, NormalisedFormsSpanZeroToOneAndIncrease) {
  const Transform cases[] = {
      {Shape::Identity},          {Shape::Exp, 0.5},          {Shape::Exp, 12.63},
      {Shape::Exp, 300.0},        {Shape::Exp, 900.0},        {Shape::NegExp, 9.68},
      {Shape::NegExp, 0.1},       {Shape::Logistic, 10, 0.5}, {Shape::Logistic, 20, 0.9},
      {Shape::Log, 0, 0.5, 1e-3},
  };
  for (const auto& phi : cases) {
    ASSERT_TRUE(phi.normalized()) << phi.describe();
    EXPECT_NEAR(phi(0.0), 0.0, 1e-12) << phi.describe();
    EXPECT_NEAR(phi(1.0), 1.0, 1e-12) << phi.describe();
    double previous = phi(0.0);
    for (int i = 1; i <= 1000; ++i) {
      const double v = phi(i / 1000.0);
      EXPECT_GE(v, previous) << phi.describe() << " at u = " << i / 1000.0;
      EXPECT_TRUE(std::isfinite(v));
      previous = v;
    }
  }
}

TEST(TransformTest, SmallTTendsToTheIdentityAndLargeTIsContinuous) {
  for (const Shape shape : {Shape::Exp, Shape::NegExp, Shape::Logistic}) {
    const Transform phi{shape, 1e-4};
    for (double u : {0.1, 0.5, 0.9}) EXPECT_NEAR(phi(u), u, 1e-4) << shape_name(shape);
  }
  // exp switches formula above t = 700: both sides agree.
  for (double u : {0.999, 0.9999, 1.0}) {
    EXPECT_NEAR((Transform{Shape::Exp, 700.0})(u), (Transform{Shape::Exp, 700.0 + 1e-9})(u), 1e-9);
  }
}

TEST(TransformTest, InvalidParametersAreNamed) {
  EXPECT_THROW((Transform{Shape::Exp, 0.0}).validate(), Error);
  EXPECT_THROW((Transform{Shape::Exp, 800.0, 0.5, 0.0, false}).validate(), Error);
  EXPECT_THROW((Transform{Shape::Logistic, 1.0, 1.0}).validate(), Error);
  try {
    (Transform{Shape::NegExp, -2.0}).validate();
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("t = -2"), std::string::npos) << e.what();
  }
  EXPECT_EQ(parse_shape("negexp"), Shape::NegExp);
  EXPECT_THROW(parse_shape("exponential"), Error);
}

TEST(NormalQuantileTest, InvertsTheNormalCdf) {
  for (double u : {1e-300, 1e-12, 1e-4, 0.02, 0.3, 0.5, 0.7, 0.975, 1 - 1e-9}) {
    const double x = normal_quantile(u);
    const double cdf = 0.5 * std::erfc(-x / std::sqrt(2.0));
    EXPECT_NEAR(cdf / u, 1.0, 1e-12) << u;
  }
  EXPECT_NEAR(normal_quantile(0.975), 1.959963984540054, 1e-13);
  EXPECT_DOUBLE_EQ(normal_quantile(0.5), 0.0);
}

}  // namespace
}  // namespace infalign::theory
