// Hugging Face parity, C++ side (run by scripts/gpu_check.sh, where transformers is installed):
// writes a random Llama policy of the default experiment's shape (grouped-query attention, tied
// embeddings) and a reward model as infalign exports them, plus fixed left-padded inputs and
// infalign's outputs for them, into OUT_DIR; tests/gpu/hf_parity.py loads the directories with
// transformers and compares.
//   hf_parity OUT_DIR
#include <iostream>

#include <ATen/ATen.h>

#include "infalign/checkpoint/safetensors.h"
#include "infalign/model/hf_io.h"
#include "infalign/model/llama.h"
#include "infalign/model/llama_config.h"

using namespace infalign;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: hf_parity OUT_DIR\n";
    return 2;
  }
  const std::string out = argv[1];
  // The default experiment's shape: the config structs' defaults.
  const model::LlamaConfig c =
      model::llama_config_from(config::ModelConfig{}, config::TokenizerConfig{});
  model::CausalLm lm(c);
  model::init_weights(*lm, at::detail::createCPUGenerator(1));
  model::ScalarModel rm(c);
  model::init_weights(*rm, at::detail::createCPUGenerator(2));
  model::save_causal_lm(lm, out + "/policy");
  model::save_scalar_model(rm, out + "/reward");
  at::Tensor ids = at::randint(4, c.vocab_size, {3, 20}, at::detail::createCPUGenerator(3),
                               at::TensorOptions(at::kLong));
  at::Tensor mask = at::ones({3, 20}, at::kLong);
  mask[1].narrow(0, 0, 5).zero_();  // left padding, as infalign pads prompts
  ids[1].narrow(0, 0, 5).fill_(3);
  const at::Tensor pos = model::position_ids_from_mask(mask);
  at::NoGradGuard no_grad;
  const at::Tensor logits = lm->forward({ids, mask, pos});
  const at::Tensor scores = model::score_at_last_token(rm->forward({ids, mask, pos}), mask);
  checkpoint::save_safetensors(out + "/expected.safetensors", {{"input_ids", ids},
                                                               {"attention_mask", mask},
                                                               {"position_ids", pos},
                                                               {"logits", logits},
                                                               {"scores", scores}});
  std::cout << "hf_parity: wrote " << out << "/{policy,reward,expected.safetensors}\n";
  return 0;
}
