// Text <-> token ids, with the special ids every stage relies on (pad distinct from eos).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace infalign::tokenizer {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Ids of `text`, without bos/eos.
  virtual std::vector<std::int64_t> encode(std::string_view text) const = 0;
  // Text of `ids`; special ids (bos, eos, pad, unk surface aside) produce no text.
  virtual std::string decode(const std::vector<std::int64_t>& ids) const = 0;
  virtual std::int64_t vocab_size() const = 0;
  virtual std::int64_t unk_id() const = 0;
  virtual std::int64_t bos_id() const = 0;
  virtual std::int64_t eos_id() const = 0;
  virtual std::int64_t pad_id() const = 0;
  // The piece (sub-word string) of `id`, for debugging and reports.
  virtual std::string piece(std::int64_t id) const = 0;
};

// <bos> followed by the ids of `text`, cut from the left to at most `max_tokens` text ids (the
// end of a prompt is what the continuation follows). Every stage encodes prompts this way.
std::vector<std::int64_t> encode_prompt(const Tokenizer& tok, std::string_view text,
                                        std::int64_t max_tokens);

}  // namespace infalign::tokenizer
