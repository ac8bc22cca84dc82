// Tensor comparison for tests: reports shape, the first mismatching index and the max abs diff.
#pragma once

#include <sstream>

#include <gtest/gtest.h>

#include <ATen/ATen.h>

namespace infalign::testing {

inline ::testing::AssertionResult tensors_near(const at::Tensor& actual, const at::Tensor& expected,
                                               double atol, double rtol = 0.0) {
  if (actual.sizes() != expected.sizes()) {
    std::ostringstream s;
    s << "shape " << actual.sizes() << " != expected " << expected.sizes();
    return ::testing::AssertionFailure() << s.str();
  }
  const at::Tensor a = actual.to(at::kDouble).cpu(), e = expected.to(at::kDouble).cpu();
  const at::Tensor diff = (a - e).abs();
  const at::Tensor bad = diff > (atol + rtol * e.abs());
  if (!bad.any().item<bool>()) return ::testing::AssertionSuccess();
  const at::Tensor flat = bad.flatten().nonzero();
  const auto first = flat[0][0].item<std::int64_t>();
  std::ostringstream s;
  s << "shape " << actual.sizes() << ": " << flat.size(0) << " element(s) off; first at flat index "
    << first << " (" << a.flatten()[first].item<double>() << " vs expected "
    << e.flatten()[first].item<double>() << "); max abs diff " << diff.max().item<double>()
    << " > atol " << atol;
  return ::testing::AssertionFailure() << s.str();
}

}  // namespace infalign::testing
