// infalign-spm-train: trains a SentencePiece model in its own process. SentencePiece's trainer
// logs through std::cerr, which is unusable inside a module dlopen'ed with RTLD_DEEPBIND next to
// LibTorch, so tokenizer::train_sentencepiece runs this small program instead. Usage:
//   infalign-spm-train '<SentencePieceTrainer flags>'
#include <sentencepiece_trainer.h>

#include <iostream>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: infalign-spm-train '--input=... --model_prefix=... ...'\n";
    return 2;
  }
  const auto status = sentencepiece::SentencePieceTrainer::Train(argv[1]);
  if (!status.ok()) {
    std::cerr << "infalign-spm-train: " << status.ToString() << "\n";
    return 1;
  }
  return 0;
}
