// The `transform` section: Phi, mapping the calibrated reward u in [0, 1] to the PPO score
// (CTRL step 2; docs/method.md section 3).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace infalign::config {

// raw = uncalibrated reward-model score (standard RLHF); the rest act on u.
enum class TransformKind { Raw, Identity, Log, Exp, NegExp, Logistic };

struct TransformConfig {
  // Phi: raw, identity, log, exp (best-of-N), negexp (worst-of-N) or logistic.
  TransformKind kind = TransformKind::Exp;
  // Sharpness t > 0 of exp, negexp and logistic; ~12.6 is KL-optimal for best-of-4 at KL 0.5.
  double t = 10.0;
  // Centre c in (0, 1) of the logistic transform.
  double center = 0.5;
  // Floor of u inside log; 0 = half a lattice step, 1 / (2K).
  double log_floor = 0.0;
  // Map Phi affinely onto [0, 1] over u in [0, 1], so kl_coef keeps its meaning across t.
  bool normalize = true;
};

// A transform written as one string, as oracle.transforms and infalign-eval oracle take it: raw,
// identity, log, exp:T, negexp:T, logistic:T or logistic:T:C (T > 0, 0 < C < 1; normalised
// forms, default log floor). Fills `out` and returns nothing, or returns what is wrong.
std::optional<std::string> parse_transform_spec(std::string_view spec, TransformConfig& out);
// The spec that parse_transform_spec reads back (t and c only where the kind has them).
std::string transform_spec(const TransformConfig& t);

}  // namespace infalign::config
