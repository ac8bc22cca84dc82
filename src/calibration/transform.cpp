#include "infalign/calibration/transform.h"

#include "infalign/config/names.h"
#include "infalign/core/error.h"

namespace infalign::calibration {

theory::Transform make_transform(const config::TransformConfig& t, std::int64_t k) {
  if (t.kind == config::TransformKind::Raw) {
    throw Error("transform.kind raw uses the reward model score itself; it has no Phi on u");
  }
  // The config's names are the theory's (one vocabulary; TransformVocabularyTest).
  theory::Transform phi;
  phi.shape = theory::parse_shape(config::enum_name(t.kind));
  if (phi.shape == theory::Shape::Log) {
    phi.eps = t.log_floor > 0 ? t.log_floor : 0.5 / static_cast<double>(k);
  }
  phi.t = t.t;
  phi.c = t.center;
  phi.normalize = t.normalize;
  phi.validate();
  return phi;
}

}  // namespace infalign::calibration
