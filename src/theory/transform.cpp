#include "infalign/theory/transform.h"

#include <array>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "infalign/core/error.h"

namespace infalign::theory {

namespace {

constexpr std::array<std::pair<Shape, std::string_view>, 6> kNames = {{
    {Shape::Identity, "identity"},
    {Shape::Log, "log"},
    {Shape::Exp, "exp"},
    {Shape::NegExp, "negexp"},
    {Shape::Logistic, "logistic"},
    {Shape::Probit, "probit"},
}};

double sigmoid(double x) {
  return x >= 0 ? 1.0 / (1.0 + std::exp(-x)) : std::exp(x) / (1.0 + std::exp(x));
}

}  // namespace

std::string_view shape_name(Shape s) {
  for (const auto& [shape, name] : kNames) {
    if (shape == s) return name;
  }
  return "?";
}

Shape parse_shape(std::string_view name) {
  for (const auto& [shape, n] : kNames) {
    if (n == name) return shape;
  }
  throw Error(fmt::format("unknown transform '{}'; expected one of {}", name,
                          fmt::join(shape_names(), ", ")));
}

std::vector<std::string> shape_names() {
  std::vector<std::string> out;
  for (const auto& [shape, name] : kNames) out.emplace_back(name);
  return out;
}

bool Transform::normalized() const {
  if (!normalize) return false;
  if (shape == Shape::Probit) return false;
  if (shape == Shape::Log) return eps > 0;
  return true;
}

void Transform::validate() const {
  const bool uses_t = shape == Shape::Exp || shape == Shape::NegExp || shape == Shape::Logistic;
  if (uses_t && !(t > 0 && std::isfinite(t))) {
    throw Error(fmt::format("transform {}: t = {}; expected t > 0", shape_name(shape), t));
  }
  if (shape == Shape::Exp && !normalize && t > 700) {
    throw Error(
        fmt::format("transform exp: t = {} overflows exp(t*u) unnormalised; expected t "
                    "<= 700 or normalize",
                    t));
  }
  if (shape == Shape::Logistic && !(c > 0 && c < 1)) {
    throw Error(fmt::format("transform logistic: c = {}; expected 0 < c < 1", c));
  }
  if (shape == Shape::Log && !(eps >= 0 && eps < 1)) {
    throw Error(fmt::format("transform log: floor = {}; expected 0 <= floor < 1", eps));
  }
}

std::string Transform::describe() const {
  std::string params;
  switch (shape) {
    case Shape::Exp:
    case Shape::NegExp:
      params = fmt::format("t={}", t);
      break;
    case Shape::Logistic:
      params = fmt::format("t={}, c={}", t, c);
      break;
    case Shape::Log:
      params = eps > 0 ? fmt::format("floor={}", eps) : "no floor";
      break;
    default:
      break;
  }
  const char* norm = normalized() ? "normalised" : "unnormalised";
  if (shape == Shape::Identity) return "identity";
  return fmt::format("{}({}{}{})", shape_name(shape), params, params.empty() ? "" : ", ", norm);
}

double Transform::operator()(double u) const {
  const bool norm = normalized();
  switch (shape) {
    case Shape::Identity:
      return u;
    case Shape::Log: {
      if (eps > 0) {
        const double v = std::log(std::max(u, eps));
        return norm ? (v - std::log(eps)) / -std::log(eps) : v;
      }
      return u > 0 ? std::log(u) : -std::numeric_limits<double>::infinity();
    }
    case Shape::Exp:
      if (!norm) return std::exp(t * u);
      if (t > 700) return std::exp(t * (u - 1)) * -std::expm1(-t * u) / -std::expm1(-t);
      return std::expm1(t * u) / std::expm1(t);
    case Shape::NegExp:
      return norm ? std::expm1(-t * u) / std::expm1(-t) : -std::exp(-t * u);
    case Shape::Logistic: {
      const double s = sigmoid(t * (u - c));
      if (!norm) return s;
      const double lo = sigmoid(-t * c), hi = sigmoid(t * (1 - c));
      return (s - lo) / (hi - lo);
    }
    case Shape::Probit:
      return normal_quantile(u);
  }
  return u;
}

double normal_quantile(double u) {
  if (u <= 0) return -std::numeric_limits<double>::infinity();
  if (u >= 1) return std::numeric_limits<double>::infinity();
  // Rational starting point (Acklam), then two Halley steps on erfc, which make it exact to
  // rounding over the whole range.
  static constexpr double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                                 -2.759285104469687e+02, 1.383577518672690e+02,
                                 -3.066479806614716e+01, 2.506628277459239e+00};
  static constexpr double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                                 -1.556989798598866e+02, 6.680131188771972e+01,
                                 -1.328068155288572e+01};
  static constexpr double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                                 -2.400758277161838e+00, -2.549732539343734e+00,
                                 4.374664141464968e+00,  2.938163982698783e+00};
  static constexpr double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
                                 2.445134137142996e+00, 3.754408661907416e+00};
  double x;
  if (u < 0.02425) {
    const double q = std::sqrt(-2 * std::log(u));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (u > 1 - 0.02425) {
    const double q = std::sqrt(-2 * std::log1p(-u));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else {
    const double q = u - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  }
  for (int i = 0; i < 2; ++i) {
    // Residual in the tail that keeps precision: Phi(x) - u, or (1 - u) - (1 - Phi(x)).
    const double cdf = 0.5 * std::erfc(-x / std::sqrt(2.0));
    const double e = cdf - u;
    const double pdf = std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI);
    if (pdf == 0) break;
    const double step = e / pdf;
    x -= step / (1 + 0.5 * x * step);
  }
  return x;
}

}  // namespace infalign::theory
