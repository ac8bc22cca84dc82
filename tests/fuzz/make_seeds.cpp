// Writes the calibration-cache seeds of tests/fuzz/corpus (built by scripts/fuzz.sh --seeds):
// small caches serialized by the real writer, so the fuzzer starts from valid gzip and records.
#include <cstdio>
#include <string>

#include "infalign/calibration/cache.h"
#include "infalign/core/fs.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds OUT_DIR\n");
    return 2;
  }
  using infalign::calibration::CacheHeader;
  using infalign::calibration::CacheRecord;
  using infalign::calibration::CalibrationCache;
  CacheHeader h;
  h.num_samples = 4;
  h.max_new_tokens = 8;
  h.max_prompt_tokens = 16;
  h.seed = 7;
  h.base_model_hash = "b";
  h.reward_kind = "gold";
  h.reward_hash = "r";
  h.prompts_hash = "p";
  const CalibrationCache one(h, {{11, {-1.0, 0.0, 0.5, 2.0}}});
  infalign::fs::write_file_atomic(std::string(argv[1]) + "/one_prompt", one.serialize());
  h.num_samples = 2;
  const CalibrationCache three(h, {{1, {0.0, 0.0}}, {2, {-3.5, 1e300}}, {3, {0.25, 0.75}}});
  infalign::fs::write_file_atomic(std::string(argv[1]) + "/three_prompts", three.serialize());
  return 0;
}
