// Multi-process data parallel on LibTorch's c10d: rendezvous through a TCPStore, collectives
// through ProcessGroupGloo (CPU tensors) or, in CUDA builds on a CUDA device, ProcessGroupNCCL;
// each collective moves its tensors to the group's device and back. Launched like
// torchrun: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT (scripts/launch.sh sets them).
// Without WORLD_SIZE (or with 1) every collective is a no-op and nothing is opened.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

namespace infalign::runtime {

struct DistEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;  // processes on this machine (LOCAL_WORLD_SIZE, else WORLD_SIZE)
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
};

// The launch variables of this process; throws ConfigError naming the variable when one is
// malformed, missing while WORLD_SIZE > 1, or out of range.
DistEnv dist_env_from_environment();

// Which local interface Gloo binds: "interface <name>" (GLOO_SOCKET_IFNAME, `ifname`, when set),
// "loopback" (the master is on this machine) or "default" (the device of this machine's
// hostname). Never MASTER_ADDR itself: on every node but the first it is another machine's.
std::string gloo_interface_choice(const std::string& master_addr, const char* ifname);

class Distributed {
 public:
  // world_size 1: a no-op group. Otherwise connects to MASTER_ADDR:MASTER_PORT (rank 0 serves
  // the store) and builds the process group; every collective fails with an error after
  // `timeout` when a rank does not take part (it exited, or hangs).
  Distributed(const DistEnv& env, c10::Device device, std::chrono::milliseconds timeout);
  ~Distributed();
  Distributed(const Distributed&) = delete;
  Distributed& operator=(const Distributed&) = delete;

  int rank() const { return env_.rank; }
  int world_size() const { return env_.world_size; }
  bool active() const { return env_.world_size > 1; }
  bool is_main() const { return env_.rank == 0; }
  // "rank 1 of 2" (for messages).
  std::string describe() const;

  // Sums each tensor across ranks, in place (flattened into one buffer per dtype and device).
  void all_reduce_sum(std::vector<at::Tensor>& tensors);
  // Element-wise maximum across ranks, in place.
  void all_reduce_max(at::Tensor& tensor);
  // True on every rank when `flag` is true on any (a stop request seen by one rank).
  bool any(bool flag);
  // Every rank's `local` (same shape and dtype on every rank), concatenated along dim 0 in rank
  // order.
  at::Tensor all_gather_cat(const at::Tensor& local);
  // Sums the gradients of `parameters` across ranks in buckets of about `bucket_bytes`;
  // a missing gradient counts as zeros (a rank with no rows in a minibatch).
  void sum_gradients(const std::vector<at::Tensor>& parameters,
                     std::int64_t bucket_bytes = 16 << 20);
  // Copies rank 0's values of `tensors` to every rank.
  void broadcast(std::vector<at::Tensor>& tensors);
  // Waits for every rank; also stops waiting (Interrupted, exit 130/143) when this process is
  // asked to stop, so a rank that finished its share does not outlive a SIGTERM.
  void barrier();
  // A phase only rank 0 runs (final validation, export, joining the ranks' files), however long
  // it takes: rank 0 runs `work` while beating a counter in the rendezvous store every second;
  // the other ranks return when it finishes. A waiting rank fails when no beat came for
  // run.dist_timeout_seconds (rank 0 hangs), at once when rank 0 exits or `work` throws there,
  // and stops (Interrupted) when asked to. So a long export never needs a longer timeout. With one
  // process, runs `work`. `phase` names it in messages ("the final export").
  void main_only(const std::string& phase, const std::function<void()>& work);

 private:
  struct Impl;
  DistEnv env_;
  std::unique_ptr<Impl> impl_;
};

// Distributed::main_only on `dist`, or `work` alone when there is no group (nullptr).
void main_only(Distributed* dist, const std::string& phase, const std::function<void()>& work);

}  // namespace infalign::runtime
