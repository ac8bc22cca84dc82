// The transform Phi a config selects, as the theory module's function of u (torch-free: the
// trainer, the evaluation and the oracle build it the same way).
#pragma once

#include <cstdint>

#include "infalign/config/transform_config.h"
#include "infalign/theory/transform.h"

namespace infalign::calibration {

// The theory transform the config selects (kind must not be raw); a log floor of 0 means half a
// lattice step, 1 / (2K). Throws infalign::Error naming a bad parameter.
theory::Transform make_transform(const config::TransformConfig& t, std::int64_t k);

}  // namespace infalign::calibration
