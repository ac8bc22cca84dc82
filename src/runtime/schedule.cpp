#include "infalign/runtime/schedule.h"

#include <algorithm>
#include <cmath>

namespace infalign::runtime {

double learning_rate(std::int64_t step, std::int64_t total_steps, std::int64_t warmup_steps,
                     double peak, config::LrSchedule schedule, double min_ratio) {
  if (warmup_steps > 0 && step < warmup_steps) {
    return peak * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
  }
  const double floor = peak * min_ratio;
  const std::int64_t span = std::max<std::int64_t>(1, total_steps - warmup_steps);
  const double progress =
      std::clamp(static_cast<double>(step - warmup_steps) / static_cast<double>(span), 0.0, 1.0);
  switch (schedule) {
    case config::LrSchedule::Constant:
      return peak;
    case config::LrSchedule::Linear:
      return floor + (peak - floor) * (1.0 - progress);
    case config::LrSchedule::Cosine:
      return floor + (peak - floor) * 0.5 * (1.0 + std::cos(3.14159265358979323846 * progress));
  }
  return peak;
}

}  // namespace infalign::runtime
