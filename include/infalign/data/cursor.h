// The order in which a stage visits its examples: a Fisher-Yates shuffle of 0..n-1 driven by
// our own generator (standard-library distributions differ between implementations), derived
// from (seed, epoch) alone, so a cursor (epoch, position) resumes exactly.
#pragma once

#include <cstdint>
#include <vector>

namespace infalign::data {

// splitmix64: a small, well-mixed 64-bit generator with a fully specified output sequence.
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next();
  // Uniform integer in [0, bound) (bound > 0), without modulo bias.
  std::uint64_t below(std::uint64_t bound);

 private:
  std::uint64_t state_;
};

// Order of the n examples in `epoch`: a permutation when `shuffle`, else 0..n-1.
std::vector<std::int64_t> epoch_order(std::int64_t n, std::uint64_t seed, std::int64_t epoch,
                                      bool shuffle);

}  // namespace infalign::data
