// A small random generator with a fully specified output sequence (standard-library engines and
// distributions differ between implementations), for everything that must replay exactly:
// data order, preference labels, Monte Carlo checks.
#pragma once

#include <cstdint>

namespace infalign {

// splitmix64: a small, well-mixed 64-bit generator.
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next();
  // Uniform integer in [0, bound) (bound > 0), without modulo bias.
  std::uint64_t below(std::uint64_t bound);
  // Uniform double in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

 private:
  std::uint64_t state_;
};

}  // namespace infalign
