// Named random streams: each generator is seeded from (run.seed, its name[, rank]), so adding a
// stream never shifts another, and its state is one byte tensor in a checkpoint.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

namespace infalign::runtime {

class RngSet {
 public:
  explicit RngSet(std::uint64_t seed) : seed_(seed) {}
  // The CPU generator called `name`, created on first use.
  at::Generator& get(const std::string& name);
  // "rng.<name>" -> state bytes, for every stream created so far.
  std::vector<std::pair<std::string, at::Tensor>> state() const;
  // Restores streams from state(); streams absent from it keep their seeds.
  void load_state(const std::vector<std::pair<std::string, at::Tensor>>& state);

  // The seed of stream `name`: the first 8 bytes of sha256("<seed>:<name>").
  static std::uint64_t derive_seed(std::uint64_t seed, const std::string& name);

 private:
  std::uint64_t seed_;
  std::map<std::string, at::Generator> generators_;
};

}  // namespace infalign::runtime
