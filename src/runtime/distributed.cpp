#include "infalign/runtime/distributed.h"

#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <map>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include <ATen/ATen.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef INFALIGN_WITH_NCCL  // CUDA builds of LibTorch (CMake defines it when Torch has c10_cuda)
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include "infalign/core/error.h"
#include "infalign/core/signals.h"

namespace infalign::runtime {

namespace {

// An integer environment variable: `fallback` when unset; a ConfigError naming it when malformed
// or outside [lo, hi].
int env_int(const char* name, int fallback, int lo, int hi) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == 0) return fallback;
  char* end = nullptr;
  errno = 0;
  const long x = std::strtol(v, &end, 10);
  if (errno != 0 || end == v || *end != 0 || x < lo || x > hi) {
    throw ConfigError(
        {fmt::format("environment variable {}: got '{}', expected an integer in "
                     "[{}, {}] (set by scripts/launch.sh or torchrun)",
                     name, v, lo, hi)});
  }
  return static_cast<int>(x);
}

}  // namespace

DistEnv dist_env_from_environment() {
  DistEnv e;
  e.world_size = env_int("WORLD_SIZE", 1, 1, 1 << 16);
  if (e.world_size == 1) return e;
  if (std::getenv("RANK") == nullptr || std::getenv("MASTER_PORT") == nullptr) {
    throw ConfigError({fmt::format(
        "WORLD_SIZE is {} but RANK or MASTER_PORT is not set; start the processes with "
        "scripts/launch.sh -n {} -- <command> (or torchrun), which sets RANK, WORLD_SIZE, "
        "LOCAL_RANK, MASTER_ADDR and MASTER_PORT",
        e.world_size, e.world_size)});
  }
  e.rank = env_int("RANK", 0, 0, e.world_size - 1);
  e.local_rank = env_int("LOCAL_RANK", e.rank, 0, e.world_size - 1);
  e.local_world_size = env_int("LOCAL_WORLD_SIZE", e.world_size, 1, e.world_size);
  e.master_port = env_int("MASTER_PORT", 29500, 1, 65535);
  if (const char* a = std::getenv("MASTER_ADDR"); a != nullptr && *a != 0) e.master_addr = a;
  return e;
}

struct Distributed::Impl {
  // Gloo for CPU tensors, NCCL for CUDA ones (ProcessGroups in LibTorch 1.x, Backends in 2.x;
  // both have the same collective methods).
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
#ifdef INFALIGN_WITH_NCCL
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl;
#endif
  c10::Device device = c10::Device(c10::kCPU);  // where the collectives' tensors live
  std::chrono::milliseconds timeout{0};
  c10::intrusive_ptr<c10d::Store> store;  // the rendezvous store (served by rank 0)
  std::int64_t main_only_calls = 0;       // numbers the keys of each main_only phase

  template <typename F>
  c10::intrusive_ptr<c10d::Work> run(F&& f) {
#ifdef INFALIGN_WITH_NCCL
    if (nccl) return f(*nccl);
#endif
    return f(*gloo);
  }
};

namespace {

bool is_loopback(const std::string& addr) {
  return addr == "localhost" || addr.rfind("127.", 0) == 0 || addr == "::1";
}

}  // namespace

std::string gloo_interface_choice(const std::string& master_addr, const char* ifname) {
  if (ifname != nullptr && *ifname != 0) return std::string("interface ") + ifname;
  if (is_loopback(master_addr)) return "loopback";
  return "default";
}

namespace {

// The local interface Gloo binds (never MASTER_ADDR itself, which is another machine's address on
// every node but the first): GLOO_SOCKET_IFNAME when set, the loopback when the master is on this
// machine, else the device of this machine's hostname.
std::shared_ptr<::gloo::transport::Device> gloo_device(const std::string& master_addr) {
  const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
  const std::string choice = gloo_interface_choice(master_addr, ifname);
  if (choice == "loopback") return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  if (choice == "default") return c10d::ProcessGroupGloo::createDefaultDevice();
  return c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
}

}  // namespace

Distributed::Distributed(const DistEnv& env, c10::Device device, std::chrono::milliseconds timeout)
    : env_(env) {
  if (!active()) return;
#ifndef INFALIGN_WITH_NCCL
  if (device.is_cuda()) {
    throw ConfigError({fmt::format(
        "run.device {}: multi-process runs on CUDA need ProcessGroupNCCL, which this LibTorch "
        "build does not have; run on the CPU (run.device: cpu) or with one process",
        device.str())});
  }
#endif
  impl_ = std::make_unique<Impl>();
  impl_->timeout = timeout;
  impl_->device = device;
  try {
    c10d::TCPStoreOptions o;
    o.port = static_cast<std::uint16_t>(env_.master_port);
    o.isServer = env_.rank == 0;
    o.numWorkers = env_.world_size;
    o.waitWorkers = true;
    o.timeout = timeout;
    auto store = c10::make_intrusive<c10d::TCPStore>(env_.master_addr, o);
    auto prefixed = c10::make_intrusive<c10d::PrefixStore>("infalign", store);
    impl_->store = prefixed;
#ifdef INFALIGN_WITH_NCCL
    if (device.is_cuda()) {
      auto options = c10d::ProcessGroupNCCL::Options::create();
      options->timeout = timeout;
      impl_->nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(prefixed, env_.rank,
                                                                env_.world_size, options);
      return;
    }
#endif
    auto options = c10d::ProcessGroupGloo::Options::create(timeout);
    options->devices.push_back(gloo_device(env_.master_addr));
    impl_->gloo =
        c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, env_.rank, env_.world_size, options);
  } catch (const std::exception& e) {
    throw Error(fmt::format("{}: could not join the process group at {}:{} within {} s: {}",
                            describe(), env_.master_addr, env_.master_port,
                            timeout.count() / 1000.0, e.what()));
  }
}

Distributed::~Distributed() = default;

std::string Distributed::describe() const {
  return fmt::format("rank {} of {}", env_.rank, env_.world_size);
}

namespace {

// Runs one collective and waits; any failure (a rank exited, a timeout) becomes an Error that
// says which rank saw it and what to look at; when this process was asked to stop (SIGINT or
// SIGTERM, which scripts/launch.sh passes to every rank), Interrupted instead, so that every
// rank exits 130/143. A `stoppable` one (the barriers) also stops waiting at once when asked.
template <typename F>
void collective(const std::string& who, const char* what, std::chrono::milliseconds timeout,
                F&& start, bool stoppable = false) {
  try {
    c10::intrusive_ptr<c10d::Work> work = start();
    if (stoppable) {
      const auto deadline = std::chrono::steady_clock::now() + timeout;
      while (!work->isCompleted()) {
        signals::throw_if_stop_requested();
        if (std::chrono::steady_clock::now() > deadline) break;  // wait() reports the timeout
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
    work->wait(timeout);
  } catch (const Interrupted&) {
    throw;
  } catch (const std::exception& e) {
    signals::throw_if_stop_requested();
    throw Error(
        fmt::format("{}: {} failed: another rank exited or did not answer within {} s "
                    "(run.dist_timeout_seconds); see the other ranks' output. ({})",
                    who, what, timeout.count() / 1000.0, e.what()));
  }
}

}  // namespace

void Distributed::all_reduce_sum(std::vector<at::Tensor>& tensors) {
  if (!active() || tensors.empty()) return;
  // One flat buffer per dtype: one collective instead of one per tensor.
  std::map<c10::ScalarType, std::vector<std::size_t>> by_dtype;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    by_dtype[tensors[i].scalar_type()].push_back(i);
  }
  for (const auto& [dtype, indices] : by_dtype) {
    std::vector<at::Tensor> parts;
    for (const std::size_t i : indices) parts.push_back(tensors[i].detach().reshape(-1));
    std::vector<at::Tensor> flat{at::cat(parts).to(impl_->device)};
    collective(describe(), "all-reduce", impl_->timeout,
               [&] { return impl_->run([&](auto& g) { return g.allreduce(flat); }); });
    std::int64_t offset = 0;
    for (const std::size_t i : indices) {
      const std::int64_t n = tensors[i].numel();
      tensors[i].detach().copy_(flat[0].narrow(0, offset, n).view(tensors[i].sizes()));
      offset += n;
    }
  }
}

void Distributed::all_reduce_max(at::Tensor& tensor) {
  if (!active()) return;
  std::vector<at::Tensor> t{tensor.detach().to(impl_->device).contiguous()};
  c10d::AllreduceOptions o;
  o.reduceOp = c10d::ReduceOp::MAX;
  collective(describe(), "all-reduce (max)", impl_->timeout,
             [&] { return impl_->run([&](auto& g) { return g.allreduce(t, o); }); });
  tensor.detach().copy_(t[0]);
}

bool Distributed::any(bool flag) {
  if (!active()) return flag;
  at::Tensor t = at::full({1}, flag ? 1.0 : 0.0, at::kDouble);
  all_reduce_max(t);
  return t.item<double>() > 0;
}

at::Tensor Distributed::all_gather_cat(const at::Tensor& local) {
  if (!active()) return local;
  std::vector<at::Tensor> input{local.detach().to(impl_->device).contiguous()};
  std::vector<std::vector<at::Tensor>> output(1);
  for (int r = 0; r < env_.world_size; ++r) output[0].push_back(at::empty_like(input[0]));
  collective(describe(), "all-gather", impl_->timeout,
             [&] { return impl_->run([&](auto& g) { return g.allgather(output, input); }); });
  return at::cat(output[0], 0).to(local.device());
}

void Distributed::sum_gradients(const std::vector<at::Tensor>& parameters,
                                std::int64_t bucket_bytes) {
  if (!active()) return;
  std::vector<at::Tensor> bucket;
  std::int64_t bytes = 0;
  auto flush = [&] {
    if (bucket.empty()) return;
    all_reduce_sum(bucket);
    bucket.clear();
    bytes = 0;
  };
  for (const at::Tensor& p : parameters) {
    if (!p.requires_grad()) continue;
    if (!p.grad().defined()) p.mutable_grad() = at::zeros_like(p);
    bucket.push_back(p.grad());
    bytes += p.numel() * static_cast<std::int64_t>(p.element_size());
    if (bytes >= bucket_bytes) flush();
  }
  flush();
}

void Distributed::broadcast(std::vector<at::Tensor>& tensors) {
  if (!active() || tensors.empty()) return;
  std::vector<at::Tensor> parts;
  for (const auto& t : tensors) parts.push_back(t.detach().reshape(-1).to(at::kDouble));
  std::vector<at::Tensor> flat{at::cat(parts).to(impl_->device)};
  collective(describe(), "broadcast", impl_->timeout,
             [&] { return impl_->run([&](auto& g) { return g.broadcast(flat); }); });
  std::int64_t offset = 0;
  for (auto& t : tensors) {
    const std::int64_t n = t.numel();
    t.detach().copy_(flat[0].narrow(0, offset, n).view(t.sizes()));
    offset += n;
  }
}

void Distributed::barrier() {
  if (!active()) return;
  collective(
      describe(), "barrier", impl_->timeout,
      [&] { return impl_->run([&](auto& g) { return g.barrier(); }); }, /*stoppable=*/true);
}

void Distributed::main_only(const std::string& phase, const std::function<void()>& work) {
  // A test hook: rank 0 takes this much longer in every main-only phase (tests/e2e: a phase
  // longer than run.dist_timeout_seconds must not fail the others).
  std::int64_t delay_ms = 0;
  if (const char* v = std::getenv("INFALIGN_TEST_MAIN_ONLY_DELAY_MS")) delay_ms = std::atoll(v);
  if (!active()) {
    work();
    return;
  }
  const std::string key = fmt::format("main_only/{}/", impl_->main_only_calls++);
  c10d::Store& store = *impl_->store;
  if (is_main()) {
    std::mutex m;
    std::condition_variable cv;
    bool finished = false;
    const auto interval = std::min(std::chrono::milliseconds(1000),
                                   std::max(impl_->timeout / 4, std::chrono::milliseconds(10)));
    std::thread beat([&] {
      std::unique_lock<std::mutex> lock(m);
      while (!cv.wait_for(lock, interval, [&] { return finished; })) {
        try {
          store.add(key + "beat", 1);
        } catch (const std::exception&) {
          return;  // the store is rank 0's own: only a process going down gets here
        }
      }
    });
    auto stop_beating = [&] {
      {
        std::lock_guard<std::mutex> lock(m);
        finished = true;
      }
      cv.notify_all();
      beat.join();
    };
    try {
      if (delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      work();
    } catch (...) {
      stop_beating();
      store.add(key + "failed", 1);
      throw;
    }
    stop_beating();
    store.add(key + "done", 1);
    barrier();  // rank 0 serves the store: it must not exit before every rank has read "done"
    return;
  }
  std::int64_t last_beat = -1;
  auto last_change = std::chrono::steady_clock::now();
  try {
    while (true) {
      signals::throw_if_stop_requested();
      if (store.add(key + "done", 0) > 0) break;
      if (store.add(key + "failed", 0) > 0) {
        throw Error(fmt::format("{}: rank 0 failed during {}; see its output", describe(), phase));
      }
      const std::int64_t beat = store.add(key + "beat", 0);
      const auto now = std::chrono::steady_clock::now();
      if (beat != last_beat) {
        last_beat = beat;
        last_change = now;
      } else if (now - last_change > impl_->timeout) {
        throw Error(fmt::format(
            "{}: rank 0 gave no sign of life for {} s during {} (run.dist_timeout_seconds): it "
            "hangs, or its machine is overloaded",
            describe(), impl_->timeout.count() / 1000.0, phase));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    signals::throw_if_stop_requested();
    throw Error(fmt::format("{}: lost rank 0 during {}: it exited; see its output. ({})",
                            describe(), phase, e.what()));
  }
  barrier();
}

void main_only(Distributed* dist, const std::string& phase, const std::function<void()>& work) {
  if (dist == nullptr) {
    work();
  } else {
    dist->main_only(phase, work);
  }
}

}  // namespace infalign::runtime
