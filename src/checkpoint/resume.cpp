#include "infalign/checkpoint/resume.h"

#include <fmt/format.h>

#include <ATen/ATen.h>

#include "infalign/checkpoint/safetensors.h"
#include "infalign/core/error.h"
#include "infalign/core/fs.h"
#include "infalign/core/logging.h"

namespace infalign::checkpoint {

namespace {

// The checkpoint's tensors into the model's parameters, one tensor read at a time.
void assign(torch::nn::Module& model, const std::string& file) {
  const SafetensorsReader reader(file);
  at::NoGradGuard no_grad;
  auto params = model.named_parameters();
  if (reader.header().tensors.size() != params.size()) {
    throw CheckpointError(fmt::format("{}: holds {} tensors, the model has {} parameters", file,
                                      reader.header().tensors.size(), params.size()));
  }
  for (auto& p : params) {
    const TensorRecord* t = reader.find(p.key());
    if (t == nullptr) throw CheckpointError(fmt::format("{}: missing tensor '{}'", file, p.key()));
    if (at::IntArrayRef(t->shape) != p.value().sizes()) {
      throw CheckpointError(
          fmt::format("{}: tensor '{}' does not match the model's shape", file, p.key()));
    }
  }
  for (auto& p : params) p.value().copy_(reader.read(*reader.find(p.key())));
}

void compare_configs(const std::string& saved_path, const config::ExperimentConfig& now) {
  std::vector<std::string> skipped;  // keys of another version of infalign
  const auto saved = config::load_recorded_config(saved_path, &skipped).config;
  for (const auto& key : skipped) {
    log::warn("[ckpt] {}: {} is not a key of this version; ignored", saved_path, key);
  }
  for (const auto& change : config::diff_configs(saved, now)) {
    if (change.key.rfind("model.", 0) == 0 || change.key.rfind("tokenizer.", 0) == 0 ||
        change.key == "data.seq_len") {
      throw CheckpointError(
          fmt::format("{}: {} was {} when the checkpoint was written, now {}; "
                      "shape-affecting keys must match to resume (or set "
                      "checkpoint.resume: never)",
                      saved_path, change.key, change.old_value, change.new_value));
    }
    log::warn("[ckpt] resuming with {} changed: {} -> {}", change.key, change.old_value,
              change.new_value);
  }
}

std::string optimizer_file(const std::string& part) {
  return part == "model" ? "optimizer.safetensors" : part + "_optimizer.safetensors";
}

}  // namespace

std::vector<std::pair<std::string, at::Tensor>> named_parameters(torch::nn::Module& module) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& p : module.named_parameters()) out.emplace_back(p.key(), p.value());
  return out;
}

std::optional<std::string> resume(const config::LoadedConfig& loaded,
                                  const CheckpointManager& manager, Resumable r) {
  const config::ExperimentConfig& cfg = loaded.config;
  std::optional<std::string> from;
  if (cfg.checkpoint.resume == "auto") {
    from = manager.latest();
    if (!from) log::info("[ckpt] no checkpoint in {}: starting fresh", manager.directory());
  } else if (cfg.checkpoint.resume != "never") {
    from = cfg.checkpoint.resume;
  }
  if (!from) return std::nullopt;
  const std::string dir = *from;
  try {
    compare_configs(dir + "/config.resolved.yaml", cfg);
    r.state = TrainState::from_json(fs::read_file(dir + "/state.json"), dir + "/state.json");
    for (const auto& part : r.parts) {
      const std::string weights = dir + "/" + part.name + ".safetensors";
      const std::string moments = dir + "/" + optimizer_file(part.name);
      assign(part.model, weights);
      part.optimizer.load_state(load_safetensors(moments).tensors, moments);
    }
    r.rngs.load_state(load_safetensors(dir + "/rng.safetensors").tensors);
  } catch (const Error&) {
    std::throw_with_nested(CheckpointError(fmt::format("resuming from {}", dir)));
  }
  log::info("[ckpt] resumed from {} at step {} (epoch {}, position {})", dir, r.state.step,
            r.state.epoch, r.state.position);
  return dir;
}

void verify_input_hashes(const std::optional<std::string>& resumed_from, TrainState& state,
                         const std::map<std::string, std::string>& hashes) {
  if (resumed_from) {
    for (const auto& [name, hash] : hashes) {
      const auto it = state.hashes.find(name);
      if (it == state.hashes.end() || it->second != hash) {
        throw CheckpointError(fmt::format(
            "{}: the {} changed since this checkpoint was written (sha256 {} then, {} now); "
            "resume with the same inputs or start a new run (checkpoint.resume: never)",
            *resumed_from, name, it == state.hashes.end() ? "missing" : it->second.substr(0, 12),
            hash.substr(0, 12)));
      }
    }
  }
  state.hashes = hashes;
}

std::string save(const config::LoadedConfig& loaded, CheckpointManager& manager, Resumable r) {
  const std::string dir = manager.save(r.state.step, [&](const std::string& tmp) {
    for (const auto& part : r.parts) {
      save_safetensors(tmp + "/" + part.name + ".safetensors", named_parameters(part.model));
      save_safetensors(tmp + "/" + optimizer_file(part.name), part.optimizer.state());
    }
    save_safetensors(tmp + "/rng.safetensors", r.rngs.state());
    fs::write_file_atomic(tmp + "/state.json", r.state.to_json());
    fs::write_file_atomic(tmp + "/config.resolved.yaml", config::dump_config(loaded.config));
  });
  log::info("[ckpt] saved {}", dir);
  return dir;
}

}  // namespace infalign::checkpoint
