// Prompt and data files: plain one-record-a-line files, JSONL prompts (data.prompt_field) and
// JSONL preference pairs (reward.preferences_file). The first byte picks the reader.
#include <string>

#include "infalign/core/error.h"
#include "infalign/data/preferences.h"
#include "infalign/data/text_corpus.h"

#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view bytes = infalign::fuzz::as_view(data + 1, size - 1);
  try {
    switch (data[0] % 3) {
      case 0:
        (void)infalign::data::read_prompts(infalign::fuzz::write_scratch("prompts.txt", bytes),
                                           "prompt");
        break;
      case 1:
        (void)infalign::data::read_prompts(infalign::fuzz::write_scratch("prompts.jsonl", bytes),
                                           "prompt");
        break;
      default:
        (void)infalign::data::read_preference_pairs(
            infalign::fuzz::write_scratch("pairs.jsonl", bytes));
        break;
    }
  } catch (const infalign::Error&) {
  }
  return 0;
}
