// Hugging Face model directories: config.json + model.safetensors (+ tokenizer.model), with HF
// tensor names, loadable by transformers as LlamaForCausalLM / LlamaForSequenceClassification.
#pragma once

#include <cstdint>
#include <string>

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "infalign/model/llama.h"

namespace infalign::model {

struct LoadOptions {
  c10::Device device = c10::Device(c10::DeviceType::CPU);
  c10::ScalarType dtype = c10::ScalarType::Float;
};

// Reads <dir>/config.json. Throws CheckpointError naming the file.
LlamaConfig read_model_config(const std::string& dir, ModelKind* kind = nullptr);

// Loads a causal LM from model.safetensors or a sharded model.safetensors.index.json with its
// shards. Every tensor is checked before use: missing, unexpected, wrong shape or a file that is
// not a valid safetensors file is a CheckpointError naming the file and tensor.
CausalLm load_causal_lm(const std::string& dir, const LoadOptions& options = {});
// The architecture of <config_dir>/config.json with the weights of the safetensors `file` (HF
// names; or a model.safetensors.index.json), e.g. a training checkpoint's policy.safetensors.
CausalLm load_causal_lm(const std::string& config_dir, const std::string& file,
                        const LoadOptions& options = {});
// Loads a scalar-head model (reward or value). A directory holding a causal LM can seed one with
// `allow_fresh_head`: its backbone is loaded and `score.weight` keeps its random init.
ScalarModel load_scalar_model(const std::string& dir, const LoadOptions& options = {},
                              bool allow_fresh_head = false);

// Writes config.json and model.safetensors (float32 unless `dtype` says otherwise) into `dir`
// atomically: a temporary directory renamed over the old one. `tokenizer_model`, when given, is
// copied in as tokenizer.model (SentencePiece) or tokenizer.json (with its tokenizer_config.json).
// Weights above `max_shard_bytes` (> 0; checkpoint.max_shard_bytes) are written as transformers
// shards them: model-0000i-of-0000n.safetensors files of at most that size (a larger tensor alone
// in one) and model.safetensors.index.json.
void save_causal_lm(CausalLm& model, const std::string& dir,
                    const std::string& tokenizer_model = "",
                    c10::ScalarType dtype = c10::ScalarType::Float,
                    std::uint64_t max_shard_bytes = 0);
// A LoRA policy's adapters in PEFT's layout: adapter_config.json (peft_type LORA, r,
// lora_alpha, target_modules, base_model_name_or_path = `base_model`) and
// adapter_model.safetensors with PEFT's names (base_model.model.<module>.lora_A.weight, ...),
// float32, written atomically like save_causal_lm.
void save_peft_adapter(CausalLm& model, const std::string& dir, const std::string& base_model);
// `score_input` records what the model reads (reward models of stage reward; see reward.input).
void save_scalar_model(ScalarModel& model, const std::string& dir,
                       const std::string& tokenizer_model = "",
                       c10::ScalarType dtype = c10::ScalarType::Float,
                       config::RewardInput score_input = config::RewardInput::PromptResponse,
                       std::uint64_t max_shard_bytes = 0);
// What the scalar model in `dir` reads (its config.json's infalign_score_input).
config::RewardInput read_score_input(const std::string& dir);

}  // namespace infalign::model
