// The reward transforms Phi of CTRL (docs/method.md section 3), as plain functions of the
// calibrated reward u in [0, 1]. Torch-free: the theory tool, the calibration lookup and PPO all
// evaluate the same code.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace infalign::theory {

// Shapes of Phi on u. Probit (the standard normal quantile) is what raw-reward RLHF with a
// Gaussian reward model is in calibrated space; it exists for the analysis, not for training.
enum class Shape { Identity, Log, Exp, NegExp, Logistic, Probit };

struct Transform {
  Shape shape = Shape::Identity;
  double t = 10.0;        // sharpness of exp, negexp, logistic (> 0)
  double c = 0.5;         // centre of logistic, in (0, 1)
  double eps = 0.0;       // floor of u inside log; 0 = none (then log cannot be normalised)
  bool normalize = true;  // map Phi affinely onto [0, 1] over u in [0, 1] where it is bounded

  // Phi(u). Normalised forms are evaluated without cancellation (expm1), also for large t.
  double operator()(double u) const;
  // Whether the normalised form is in use (normalize and Phi bounded on [0, 1]).
  bool normalized() const;
  // Throws infalign::Error naming the bad parameter.
  void validate() const;
  // e.g. "exp(t=10, normalised)".
  std::string describe() const;
};

std::string_view shape_name(Shape s);
// Parses identity|log|exp|negexp|logistic|probit; throws infalign::Error listing the names.
Shape parse_shape(std::string_view name);
// Every shape's name, in declaration order: the one vocabulary of transforms. The config's
// transform.kind names (config::TransformKind, plus raw) and both CLIs' --transform take theirs
// from it or are checked against it (TransformVocabularyTest).
std::vector<std::string> shape_names();

// Standard normal quantile (inverse CDF), accurate to about 1e-15 relative; u in (0, 1).
double normal_quantile(double u);

}  // namespace infalign::theory
