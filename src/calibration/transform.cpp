#include "infalign/calibration/transform.h"

#include "infalign/core/error.h"

namespace infalign::calibration {

theory::Transform make_transform(const config::TransformConfig& t, std::int64_t k) {
  theory::Transform phi;
  switch (t.kind) {
    case config::TransformKind::Raw:
      throw Error("transform.kind raw uses the reward model score itself; it has no Phi on u");
    case config::TransformKind::Identity:
      phi.shape = theory::Shape::Identity;
      break;
    case config::TransformKind::Log:
      phi.shape = theory::Shape::Log;
      phi.eps = t.log_floor > 0 ? t.log_floor : 0.5 / static_cast<double>(k);
      break;
    case config::TransformKind::Exp:
      phi.shape = theory::Shape::Exp;
      break;
    case config::TransformKind::NegExp:
      phi.shape = theory::Shape::NegExp;
      break;
    case config::TransformKind::Logistic:
      phi.shape = theory::Shape::Logistic;
      break;
  }
  phi.t = t.t;
  phi.c = t.center;
  phi.normalize = t.normalize;
  phi.validate();
  return phi;
}

}  // namespace infalign::calibration
