// The `run` section: what to run, where its outputs go, seed, device and threads.
#pragma once

#include <cstdint>
#include <string>

namespace infalign::config {

// Which job `infalign-train` runs.
enum class Stage { Tokenizer, Lm, Reward, Calibrate, Ppo };

// Where tensors live. `Auto` picks CUDA when a GPU is present, else CPU.
enum class DeviceKind { Auto, Cpu, Cuda };

// Numeric type of weights and activations in forwards; training keeps float32 master weights.
enum class DType { Float32, BFloat16 };

// `auto`, `cpu`, `cuda` or `cuda:k`.
struct DeviceSpec {
  DeviceKind kind = DeviceKind::Auto;
  int index = -1;  // CUDA ordinal, -1 = the current device
};

struct RunConfig {
  // Name of the run, used in logs and reports.
  std::string name = "default";
  // The job to run: tokenizer, lm, reward, calibrate or ppo.
  Stage stage = Stage::Ppo;
  // Output directory (logs, metrics, checkpoints); relative paths are relative to the working dir.
  std::string run_dir = "runs/default";
  // Master seed; every random stream is derived from it and a stream name.
  std::uint64_t seed = 1234;
  // Device: auto, cpu, cuda or cuda:k.
  DeviceSpec device = {};
  // Training forward dtype: float32, or bfloat16 autocast (float32 weights; ~1.8x faster here).
  DType dtype = DType::Float32;
  // Storage and compute dtype of the frozen models: PPO's reference and the reward model (in
  // calibration, PPO and evaluation). bfloat16 halves their memory; their log-probs and scores
  // are still accumulated in float32.
  DType frozen_dtype = DType::Float32;
  // Intra-op CPU threads for LibTorch; 0 = one per core (LibTorch alone would start with 1).
  std::int64_t threads = 0;
  // Ask LibTorch for deterministic algorithms (slower on CUDA; CPU is deterministic anyway).
  bool deterministic = true;
  // Multi-process runs (scripts/launch.sh): seconds a collective waits for the other ranks before
  // every rank exits with an error (a rank that died is noticed at once); in a phase only rank 0
  // runs (the final export), seconds without rank 0's heartbeat.
  double dist_timeout_seconds = 300;
  // Memory one process may use on its device, GiB, for the memory plan (infalign-train --check
  // prints it; every run checks it before loading a model). 0 = what the device has: on CPU the
  // memory available now (MemAvailable) plus what the process holds, on CUDA the GPU's total.
  double memory_limit_gib = 0;
  // Refuse to start a run whose planned peak exceeds that memory (exit 2, naming the biggest
  // term and the option that shrinks it); false only logs the plan and a warning.
  bool memory_check = true;
  // Give the C heap's freed memory back to the system between PPO phases (malloc_trim) when the
  // planned peak is above this share of that memory: it lowers the peak RSS of tight runs, at the
  // cost of faulting the pages in again (2x slower iterations on the default PPO run). 0 = always;
  // 1000 = never.
  double release_memory_above = 0.5;
};

}  // namespace infalign::config
