#include "infalign/tokenizer/load.h"

#include <filesystem>
#include <vector>

#include <fmt/format.h>

#include "infalign/config/validate.h"
#include "infalign/core/error.h"
#include "infalign/core/logging.h"
#include "infalign/tokenizer/bpe_tokenizer.h"
#include "infalign/tokenizer/sentencepiece_tokenizer.h"

namespace infalign::tokenizer {

namespace {

std::string where(const config::LoadedConfig& loaded, const std::string& key) {
  return loaded.sources.locate("tokenizer." + key).str();
}

std::unique_ptr<Tokenizer> configured_sentencepiece(const config::LoadedConfig& loaded) {
  const config::TokenizerConfig& t = loaded.config.tokenizer;
  auto tok = SentencePieceTokenizer::load(t.path);
  std::vector<std::string> problems;
  const std::pair<const char*, std::pair<std::int64_t, std::int64_t>> ids[] = {
      {"unk_id", {t.unk_id, tok->unk_id()}},
      {"bos_id", {t.bos_id, tok->bos_id()}},
      {"eos_id", {t.eos_id, tok->eos_id()}},
      {"pad_id", {t.pad_id, tok->pad_id()}}};
  const bool padless = !tok->has_pad_piece();
  for (const auto& [key, values] : ids) {
    if (padless && std::string_view(key) == "pad_id") continue;  // any filler id (below)
    if (values.first != values.second) {
      problems.push_back(fmt::format("{}: tokenizer.{}: got {}, but {} has {}", where(loaded, key),
                                     key, values.first, t.path, values.second));
    }
  }
  if (!problems.empty()) throw ConfigError(problems);
  if (padless) {
    if (t.pad_id >= tok->vocab_size()) {
      throw ConfigError({fmt::format(
          "{}: tokenizer.pad_id: got {}, but {} has only {} pieces; a tokenizer without a pad "
          "piece pads with tokenizer.pad_id, which must be a piece id (unk's is a common choice)",
          where(loaded, "pad_id"), t.pad_id, t.path, tok->vocab_size())});
    }
    tok->use_padding_id(t.pad_id);
    log::info(
        "[tokenizer] {} has no pad piece: padding with id {} ('{}'), told apart by "
        "attention masks",
        t.path, t.pad_id, tok->piece(t.pad_id));
  }
  return tok;
}

std::unique_ptr<Tokenizer> configured_json(const config::LoadedConfig& loaded) {
  const config::TokenizerConfig& t = loaded.config.tokenizer;
  auto tok = ByteLevelBpeTokenizer::load(t.path);
  const std::string config_file =
      (std::filesystem::path(t.path).parent_path() / "tokenizer_config.json").string();
  std::vector<std::string> problems;
  const std::pair<const char*, std::int64_t> ids[] = {
      {"bos_id", t.bos_id}, {"eos_id", t.eos_id}, {"pad_id", t.pad_id}};
  for (const auto& [key, id] : ids) {
    if (id < 0 || id >= tok->vocab_size()) {
      problems.push_back(fmt::format("{}: tokenizer.{}: got {}, but {} has ids 0 to {}",
                                     where(loaded, key), key, id, t.path, tok->vocab_size() - 1));
    }
  }
  const std::pair<const char*, const char*> named[] = {{"bos_id", "bos_token"},
                                                       {"eos_id", "eos_token"}};
  for (const auto& [key, token] : named) {
    const std::int64_t id = std::string_view(key) == "bos_id" ? t.bos_id : t.eos_id;
    const std::int64_t expected = tok->config_token_id(token);
    if (expected >= 0 && id != expected) {
      problems.push_back(fmt::format("{}: tokenizer.{}: got {}, but {} names {} '{}', id {}",
                                     where(loaded, key), key, id, config_file, token,
                                     tok->piece(expected), expected));
    }
  }
  if (tok->unk_id() >= 0 && t.unk_id != tok->unk_id()) {
    problems.push_back(fmt::format("{}: tokenizer.unk_id: got {}, but {} has unk_token id {}",
                                   where(loaded, "unk_id"), t.unk_id, t.path, tok->unk_id()));
  }
  if (!problems.empty()) throw ConfigError(problems);
  tok->set_special_ids(t.bos_id, t.eos_id, t.pad_id);
  log::info("[tokenizer] {}: {} tokens; bos {} '{}', eos {} '{}', padding with {} '{}' (masked)",
            t.path, tok->vocab_size(), t.bos_id, tok->piece(t.bos_id), t.eos_id,
            tok->piece(t.eos_id), t.pad_id, tok->piece(t.pad_id));
  return tok;
}

}  // namespace

std::unique_ptr<Tokenizer> load_configured_tokenizer(const config::LoadedConfig& loaded) {
  return config::is_tokenizer_json(loaded.config.tokenizer.path) ? configured_json(loaded)
                                                                 : configured_sentencepiece(loaded);
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path, const std::string& key) {
  if (!config::is_tokenizer_json(path)) return SentencePieceTokenizer::load(path);
  auto tok = ByteLevelBpeTokenizer::load(path);
  const std::int64_t eos = tok->config_token_id("eos_token");
  if (eos < 0) {
    throw DataError(fmt::format(
        "{} ({}): no eos_token in the tokenizer_config.json beside it; the model's sequences end "
        "with it, so it must be named there",
        path, key));
  }
  const std::int64_t pad = tok->config_token_id("pad_token");
  const std::int64_t bos = tok->config_token_id("bos_token");
  tok->set_special_ids(bos >= 0 ? bos : pad >= 0 ? pad : eos, eos, pad >= 0 ? pad : eos);
  return tok;
}

std::string describe_tokenizer(const std::string& path) {
  if (config::is_tokenizer_json(path)) return "Hugging Face tokenizer.json, byte-level BPE";
  return "SentencePiece, module " + sentencepiece_module_path();
}

}  // namespace infalign::tokenizer
