// Learning-rate schedules as pure functions of the step (no state to checkpoint).
#pragma once

#include <cstdint>

#include "infalign/config/train_config.h"

namespace infalign::runtime {

// Linear warmup from 0 over `warmup_steps`, then constant, linear or cosine decay from `peak`
// to `peak * min_ratio` at `total_steps`. `step` counts completed optimizer steps (the rate for
// update number step + 1).
double learning_rate(std::int64_t step, std::int64_t total_steps, std::int64_t warmup_steps,
                     double peak, config::LrSchedule schedule, double min_ratio);

}  // namespace infalign::runtime
