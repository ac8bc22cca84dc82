#include "infalign/model/hf_io.h"

#include <unistd.h>

#include <filesystem>
#include <functional>
#include <optional>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <ATen/ATen.h>

#include "infalign/checkpoint/safetensors.h"
#include "infalign/checkpoint/safetensors_format.h"
#include "infalign/config/validate.h"
#include "infalign/core/error.h"
#include "infalign/core/fs.h"
#include "infalign/runtime/tensor_format.h"

namespace infalign::model {

namespace stdfs = std::filesystem;

namespace {

const char* hf_dtype_name(c10::ScalarType t) {
  switch (t) {
    case c10::ScalarType::BFloat16:
      return "bfloat16";
    case c10::ScalarType::Half:
      return "float16";
    default:
      return "float32";
  }
}

std::string shape_text(at::IntArrayRef s) { return fmt::format("{}", s); }

// Copies the file's tensors into the module's parameters, by HF name, after checking (from the
// headers, before any data is read) that the sets of names match and every shape agrees. One
// tensor is read at a time, so loading holds the model plus one tensor. `optional` names may be
// absent from the file (they keep their current values); `ignored` names in the file are skipped.
void assign_parameters(torch::nn::Module& module, const checkpoint::ModelWeightsReader& weights,
                       const std::set<std::string>& optional,
                       const std::set<std::string>& ignored) {
  auto params = module.named_parameters(/*recurse=*/true);
  std::vector<std::string> problems;
  for (const auto& p : params) {
    const checkpoint::TensorRecord* t = weights.find(p.key());
    if (t == nullptr) {
      if (!optional.count(p.key())) problems.push_back(fmt::format("missing tensor '{}'", p.key()));
      continue;
    }
    if (at::IntArrayRef(t->shape) != p.value().sizes()) {
      problems.push_back(fmt::format("tensor '{}' has shape {}, expected {} from config.json",
                                     p.key(), shape_text(t->shape), shape_text(p.value().sizes())));
    }
    if (t->dtype != "F32" && t->dtype != "BF16" && t->dtype != "F16" && t->dtype != "F64") {
      problems.push_back(
          fmt::format("tensor '{}' has dtype {}, expected a floating type", p.key(), t->dtype));
    }
  }
  for (const std::string& name : weights.names()) {
    if (params.find(name) == nullptr && !ignored.count(name)) {
      problems.push_back(fmt::format("unexpected tensor '{}'", name));
    }
  }
  if (!problems.empty()) {
    throw CheckpointError(fmt::format("{}: {}", weights.path(), fmt::join(problems, "; ")));
  }
  at::NoGradGuard no_grad;
  for (auto& p : params) {
    if (weights.find(p.key()) != nullptr) p.value().copy_(weights.read(p.key()));
  }
}

// Names HF may store that are not parameters here: rotary inv_freq buffers of old transformers.
std::set<std::string> ignored_names(const checkpoint::ModelWeightsReader& weights) {
  std::set<std::string> ignored;
  for (const std::string& name : weights.names()) {
    if (name.find("rotary_emb.inv_freq") != std::string::npos) ignored.insert(name);
  }
  return ignored;
}

// Writes a model directory so that readers see the old one or the new one, never a mix: `fill`
// writes the files into a temporary directory, which then replaces `dir` (the old directory, if
// any, is moved aside first, then removed).
void write_directory_atomically(const std::string& dir,
                                const std::function<void(const stdfs::path&)>& fill) {
  const stdfs::path target(dir);
  const stdfs::path tmp = target.string() + fmt::format(".tmp.{}", ::getpid());
  std::error_code ec;
  stdfs::remove_all(tmp, ec);
  fs::create_directories(tmp.string());
  fill(tmp);
  const stdfs::path old = target.string() + fmt::format(".old.{}", ::getpid());
  if (stdfs::exists(target)) stdfs::rename(target, old);
  stdfs::rename(tmp, target);
  fs::sync_directory(target.parent_path().empty() ? "." : target.parent_path().string());
  stdfs::remove_all(old, ec);
}

template <class Model>
void write_directory(Model& model, const std::string& dir, ModelKind kind,
                     const std::string& tokenizer_model, c10::ScalarType dtype,
                     std::uint64_t max_shard_bytes,
                     config::RewardInput score_input = config::RewardInput::PromptResponse) {
  write_directory_atomically(dir, [&](const stdfs::path& tmp) {
    // Adapters (LoRA) merged into their weights: the HF layout has no adapter tensors. Each is
    // converted to `dtype` as it is written.
    const checkpoint::NamedTensors tensors = hf_named_weights(*model);
    std::vector<std::uint64_t> sizes;
    std::uint64_t total = 0;
    for (const auto& [name, t] : tensors) {
      sizes.push_back(static_cast<std::uint64_t>(t.numel()) * c10::elementSize(dtype));
      total += sizes.back();
    }
    const std::vector<std::size_t> starts = checkpoint::shard_starts(sizes, max_shard_bytes);
    if (starts.size() <= 1) {
      checkpoint::save_safetensors((tmp / "model.safetensors").string(), tensors,
                                   {{"format", "pt"}}, dtype);
    } else {
      // Sharded as transformers writes it: model-0000i-of-0000n.safetensors and the index.
      checkpoint::SafetensorsIndex index;
      for (std::size_t s = 0; s < starts.size(); ++s) {
        const std::size_t end = s + 1 < starts.size() ? starts[s + 1] : tensors.size();
        const std::string shard =
            fmt::format("model-{:05d}-of-{:05d}.safetensors", s + 1, starts.size());
        const checkpoint::NamedTensors part(
            tensors.begin() + static_cast<std::ptrdiff_t>(starts[s]),
            tensors.begin() + static_cast<std::ptrdiff_t>(end));
        for (const auto& [name, t] : part) index.weight_map.emplace(name, shard);
        checkpoint::save_safetensors((tmp / shard).string(), part, {{"format", "pt"}}, dtype);
      }
      fs::write_file_atomic((tmp / "model.safetensors.index.json").string(),
                            checkpoint::safetensors_index_json(index, total));
    }
    fs::write_file_atomic(
        (tmp / "config.json").string(),
        to_hf_config_json(model->config(), kind, hf_dtype_name(dtype), score_input));
    if (!tokenizer_model.empty()) {
      // The tokenizer beside the weights, under the names transformers looks for: a SentencePiece
      // tokenizer.model, or a tokenizer.json with the tokenizer_config.json next to it.
      const bool hf_json = config::is_tokenizer_json(tokenizer_model);
      fs::write_file_atomic((tmp / (hf_json ? "tokenizer.json" : "tokenizer.model")).string(),
                            fs::read_file(tokenizer_model));
      const stdfs::path config =
          stdfs::path(tokenizer_model).parent_path() / "tokenizer_config.json";
      if (hf_json && stdfs::exists(config)) {
        fs::write_file_atomic((tmp / "tokenizer_config.json").string(),
                              fs::read_file(config.string()));
      }
    }
  });
}

}  // namespace

namespace {

std::string read_config_text(const std::string& path) {
  try {
    return fs::read_file(path);
  } catch (const Error& e) {
    throw CheckpointError(fmt::format("{} (expected a Hugging Face model directory)", e.what()));
  }
}

}  // namespace

LlamaConfig read_model_config(const std::string& dir, ModelKind* kind) {
  const std::string path = (stdfs::path(dir) / "config.json").string();
  return parse_hf_config_json(read_config_text(path), path, kind);
}

config::RewardInput read_score_input(const std::string& dir) {
  const std::string path = (stdfs::path(dir) / "config.json").string();
  return parse_score_input(read_config_text(path), path);
}

CausalLm load_causal_lm(const std::string& dir, const LoadOptions& options) {
  return load_causal_lm(dir, checkpoint::model_weights_path(dir), options);
}

CausalLm load_causal_lm(const std::string& config_dir, const std::string& file,
                        const LoadOptions& options) {
  const LlamaConfig config = read_model_config(config_dir);
  const checkpoint::ModelWeightsReader weights(file);
  // Built in its final dtype, without random values: each tensor of the file is copied in.
  CausalLm model = [&] {
    const UninitialisedParameters uninitialised(options.dtype);
    return CausalLm(config);
  }();
  auto ignored = ignored_names(weights);
  // A tied model may still carry lm_head.weight (some exporters write it): it must then equal
  // the embedding, which is what a tied model uses.
  if (config.tie_word_embeddings && weights.find("lm_head.weight") != nullptr) {
    if (weights.find("model.embed_tokens.weight") == nullptr ||
        !at::equal(weights.read("model.embed_tokens.weight"), weights.read("lm_head.weight"))) {
      throw CheckpointError(
          fmt::format("{}: tie_word_embeddings is true but lm_head.weight differs "
                      "from model.embed_tokens.weight",
                      file));
    }
    ignored.insert("lm_head.weight");
  }
  assign_parameters(*model, weights, {}, ignored);
  model->to(options.device);
  return model;
}

ScalarModel load_scalar_model(const std::string& dir, const LoadOptions& options,
                              bool allow_fresh_head) {
  ModelKind kind = ModelKind::Scalar;
  const LlamaConfig config = read_model_config(dir, &kind);
  const std::string file = checkpoint::model_weights_path(dir);
  const checkpoint::ModelWeightsReader weights(file);
  // A head the file lacks keeps the random values of a fresh model (as before: the same draws
  // from the default generator); otherwise the model is built in its final dtype, uninitialised.
  const bool fresh_head = allow_fresh_head && weights.find("score.weight") == nullptr;
  ScalarModel model = [&] {
    std::optional<UninitialisedParameters> uninitialised;
    if (!fresh_head) uninitialised.emplace(options.dtype);
    return ScalarModel(config);
  }();
  auto ignored = ignored_names(weights);
  std::set<std::string> optional;
  if (allow_fresh_head) {
    optional.insert("score.weight");
    ignored.insert("lm_head.weight");
  }
  assign_parameters(*model, weights, optional, ignored);
  model->to(options.device, options.dtype);
  return model;
}

void save_causal_lm(CausalLm& model, const std::string& dir, const std::string& tokenizer_model,
                    c10::ScalarType dtype, std::uint64_t max_shard_bytes) {
  write_directory(model, dir, ModelKind::CausalLm, tokenizer_model, dtype, max_shard_bytes);
}

void save_peft_adapter(CausalLm& model, const std::string& dir, const std::string& base_model) {
  const LlamaModel backbone = model->backbone();
  INFALIGN_CHECK(backbone->has_lora(), "save_peft_adapter: the model has no adapters");
  const LoraSpec& spec = backbone->lora();
  write_directory_atomically(dir, [&](const stdfs::path& tmp) {
    checkpoint::NamedTensors tensors;
    for (const auto& [name, value] : lora_named_weights(*model)) {
      tensors.emplace_back("base_model.model." + name, value.detach().to(at::kCPU, at::kFloat));
    }
    checkpoint::save_safetensors((tmp / "adapter_model.safetensors").string(), tensors,
                                 {{"format", "pt"}});
    nlohmann::ordered_json config;
    config["peft_type"] = "LORA";
    config["task_type"] = "CAUSAL_LM";
    config["base_model_name_or_path"] = base_model;
    config["r"] = spec.rank;
    config["lora_alpha"] = spec.alpha;
    config["lora_dropout"] = 0.0;
    config["target_modules"] = spec.targets;
    config["bias"] = "none";
    config["fan_in_fan_out"] = false;
    config["inference_mode"] = true;
    config["modules_to_save"] = nullptr;
    fs::write_file_atomic((tmp / "adapter_config.json").string(), config.dump(2) + "\n");
  });
}

void save_scalar_model(ScalarModel& model, const std::string& dir,
                       const std::string& tokenizer_model, c10::ScalarType dtype,
                       config::RewardInput score_input, std::uint64_t max_shard_bytes) {
  write_directory(model, dir, ModelKind::Scalar, tokenizer_model, dtype, max_shard_bytes,
                  score_input);
}

}  // namespace infalign::model
