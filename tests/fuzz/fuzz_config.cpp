// YAML experiment configs and --set overrides: parse_experiment_config on arbitrary text, then
// (when it loads) one override built from the input's last line.
#include <string>

#include "infalign/config/load.h"
#include "infalign/core/error.h"

#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(infalign::fuzz::as_view(data, size));
  std::vector<std::string> overrides;
  const auto newline = text.rfind('\n');
  if (newline != std::string::npos && newline + 1 < text.size()) {
    overrides.push_back(text.substr(newline + 1));
  }
  try {
    const auto loaded = infalign::config::parse_experiment_config(text, "fuzz.yaml", {});
    // What loads must dump and load back.
    (void)infalign::config::parse_experiment_config(infalign::config::dump_config(loaded.config),
                                                    "dumped.yaml", overrides);
  } catch (const infalign::Error&) {
  }
  return 0;
}
