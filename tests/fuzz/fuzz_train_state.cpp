// A checkpoint's state.json (step, position, RNG counters, input hashes, controller values).
#include <string>

#include "infalign/checkpoint/train_state.h"
#include "infalign/core/error.h"

#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(infalign::fuzz::as_view(data, size));
  try {
    const auto state = infalign::checkpoint::TrainState::from_json(text, "state.json");
    // What parses must write and parse back.
    (void)infalign::checkpoint::TrainState::from_json(state.to_json(), "state.json");
  } catch (const infalign::Error&) {
  }
  return 0;
}
