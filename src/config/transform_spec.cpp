#include <charconv>
#include <cmath>
#include <vector>

#include <fmt/format.h>

#include "infalign/config/names.h"
#include "infalign/config/transform_config.h"

namespace infalign::config {

namespace {

std::optional<double> number(std::string_view text) {
  double value = 0;
  const auto r = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || r.ec != std::errc() || r.ptr != text.data() + text.size() ||
      !std::isfinite(value))
    return std::nullopt;
  return value;
}

}  // namespace

std::optional<std::string> parse_transform_spec(std::string_view spec, TransformConfig& out) {
  const std::string expected = fmt::format(
      "got '{}', expected raw, identity, log, exp:T, negexp:T, logistic:T or "
      "logistic:T:C (T > 0, 0 < C < 1), e.g. exp:12.63",
      spec);
  std::vector<std::string_view> parts;
  for (std::size_t start = 0;;) {
    const std::size_t colon = spec.find(':', start);
    parts.push_back(spec.substr(start, colon == std::string_view::npos ? colon : colon - start));
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  const auto kind = parse_enum<TransformKind>(parts[0]);
  if (!kind) return expected;
  const bool sharp = *kind == TransformKind::Exp || *kind == TransformKind::NegExp ||
                     *kind == TransformKind::Logistic;
  const std::size_t most = *kind == TransformKind::Logistic ? 3 : sharp ? 2 : 1;
  if (parts.size() > most || (sharp && parts.size() < 2)) return expected;
  TransformConfig t;
  t.kind = *kind;
  if (parts.size() > 1) {
    const auto value = number(parts[1]);
    if (!value || !(*value > 0)) return expected;
    t.t = *value;
  }
  if (parts.size() > 2) {
    const auto value = number(parts[2]);
    if (!value || !(*value > 0 && *value < 1)) return expected;
    t.center = *value;
  }
  out = t;
  return std::nullopt;
}

std::string transform_spec(const TransformConfig& t) {
  const std::string name(enum_name(t.kind));
  switch (t.kind) {
    case TransformKind::Exp:
    case TransformKind::NegExp:
      return fmt::format("{}:{:g}", name, t.t);
    case TransformKind::Logistic:
      return fmt::format("logistic:{:g}:{:g}", t.t, t.center);
    default:
      return name;
  }
}

}  // namespace infalign::config
