// The order in which a stage visits its examples: a Fisher-Yates shuffle of 0..n-1 driven by
// our own generator (standard-library distributions differ between implementations), derived
// from (seed, epoch) alone, so a cursor (epoch, position) resumes exactly.
#pragma once

#include <cstdint>
#include <vector>

#include "infalign/core/random.h"

namespace infalign::data {

using infalign::SplitMix64;

// Order of the n examples in `epoch`: a permutation when `shuffle`, else 0..n-1.
std::vector<std::int64_t> epoch_order(std::int64_t n, std::uint64_t seed, std::int64_t epoch,
                                      bool shuffle);

}  // namespace infalign::data
