// The whole experiment: one struct per YAML section, nested as in the file.
#pragma once

#include "infalign/config/calibration_config.h"
#include "infalign/config/checkpoint_config.h"
#include "infalign/config/data_config.h"
#include "infalign/config/eval_config.h"
#include "infalign/config/generation_config.h"
#include "infalign/config/logging_config.h"
#include "infalign/config/lora_config.h"
#include "infalign/config/model_config.h"
#include "infalign/config/oracle_config.h"
#include "infalign/config/ppo_config.h"
#include "infalign/config/reward_config.h"
#include "infalign/config/run_config.h"
#include "infalign/config/tokenizer_config.h"
#include "infalign/config/train_config.h"
#include "infalign/config/transform_config.h"

namespace infalign::config {

struct ExperimentConfig {
  RunConfig run;
  ModelConfig model;
  LoraConfig lora;
  TokenizerConfig tokenizer;
  DataConfig data;
  GenerationConfig generation;
  RewardConfig reward;
  CalibrationConfig calibration;
  TransformConfig transform;
  TrainConfig train;
  PpoConfig ppo;
  CheckpointConfig checkpoint;
  EvalConfig eval;
  OracleConfig oracle;
  LoggingConfig logging;
};

}  // namespace infalign::config
