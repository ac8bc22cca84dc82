#include "infalign/runtime/rng.h"

#include <fmt/format.h>

#include <ATen/CPUGeneratorImpl.h>

#include "infalign/core/fs.h"

namespace infalign::runtime {

std::uint64_t RngSet::derive_seed(std::uint64_t seed, const std::string& name) {
  return std::stoull(fs::sha256_hex(fmt::format("{}:{}", seed, name)).substr(0, 16), nullptr, 16);
}

at::Generator& RngSet::get(const std::string& name) {
  auto it = generators_.find(name);
  if (it == generators_.end()) {
    it = generators_.emplace(name, at::detail::createCPUGenerator(derive_seed(seed_, name))).first;
  }
  return it->second;
}

std::vector<std::pair<std::string, at::Tensor>> RngSet::state() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& [name, gen] : generators_) {
    out.emplace_back("rng." + name, gen.get_state());
  }
  return out;
}

void RngSet::load_state(const std::vector<std::pair<std::string, at::Tensor>>& state) {
  for (const auto& [key, bytes] : state) {
    if (key.rfind("rng.", 0) != 0) continue;
    get(key.substr(4)).set_state(bytes);
  }
}

}  // namespace infalign::runtime
