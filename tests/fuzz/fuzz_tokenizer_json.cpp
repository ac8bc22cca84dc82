// Hugging Face tokenizer.json: loading (model, added tokens, normalizer, pre-tokenizers,
// decoder), then encoding and decoding a fixed text with whatever loaded, and decoding ids
// from the input's bytes.
#include <string>

#include "infalign/core/error.h"
#include "infalign/tokenizer/bpe_tokenizer.h"

#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes = infalign::fuzz::as_view(data, size);
  try {
    const auto tok = infalign::tokenizer::ByteLevelBpeTokenizer::load(
        infalign::fuzz::write_scratch("tokenizer.json", bytes));
    const auto ids =
        tok->encode("Hello wörld <|endoftext|> 12 345\n\t  e\xcc\x81 \xf0\x9f\x98\x80");
    (void)tok->decode(ids);
    std::vector<std::int64_t> raw;
    for (std::size_t i = 0; i < size && i < 64; ++i)
      raw.push_back(static_cast<std::int64_t>(data[i]) - 8);
    (void)tok->decode(raw);
  } catch (const infalign::Error&) {
  }
  return 0;
}
