// The calibration cache file (gzip'd header and per-prompt sorted base rewards).
#include <string>

#include "infalign/calibration/cache.h"
#include "infalign/core/error.h"

#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes(infalign::fuzz::as_view(data, size));
  try {
    const auto cache = infalign::calibration::CalibrationCache::parse(bytes, "fuzz.cache");
    for (const auto& record : cache.records()) {
      if (cache.find(record.key) == nullptr) __builtin_trap();
    }
    // What parses must serialize and parse back.
    (void)infalign::calibration::CalibrationCache::parse(cache.serialize(), "fuzz.cache");
  } catch (const infalign::Error&) {
  }
  return 0;
}
