#include "infalign/core/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>

#include <fmt/format.h>
#include <sys/wait.h>

#include "infalign/core/error.h"

extern char** environ;

namespace infalign::subprocess {

namespace {

struct Pipe {
  int fd[2] = {-1, -1};
  Pipe() {
    if (::pipe2(fd, O_CLOEXEC) != 0) {
      throw Error(fmt::format("cannot create a pipe: {}", std::strerror(errno)));
    }
  }
  ~Pipe() {
    close_end(0);
    close_end(1);
  }
  void close_end(int i) {
    if (fd[i] >= 0) ::close(fd[i]);
    fd[i] = -1;
  }
};

// Blocks SIGPIPE in this thread while alive, so writing to a program that stopped reading gives
// EPIPE instead of ending this process; a SIGPIPE raised meanwhile is consumed before unblocking.
class SigpipeBlock {
 public:
  SigpipeBlock() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
  }
  ~SigpipeBlock() {
    if (!was_pending_) {
      const timespec zero{0, 0};
      while (sigtimedwait(&set_, nullptr, &zero) == SIGPIPE) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

 private:
  sigset_t set_{}, old_{};
  bool was_pending_ = false;
};

}  // namespace

std::string Result::describe() const {
  if (timed_out) return "timed out";
  if (signal != 0) return fmt::format("was killed by signal {} ({})", signal, strsignal(signal));
  return fmt::format("exited with status {}", exit_status);
}

Result run(const std::vector<std::string>& argv, std::string_view input, double timeout_seconds,
           std::size_t err_tail_bytes) {
  if (argv.empty()) throw Error("subprocess::run: no program");
  Pipe in, out, err;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in.fd[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out.fd[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err.fd[1], STDERR_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setpgroup(&attr, 0);  // its own group: a timeout kills its children too
  // The child starts with default SIGPIPE handling and nothing blocked, whatever this thread has.
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int spawn_error =
      ::posix_spawnp(&pid, argv[0].c_str(), &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (spawn_error != 0) {
    throw Error(fmt::format("cannot start {}: {}", argv[0], std::strerror(spawn_error)));
  }
  in.close_end(0);
  out.close_end(1);
  err.close_end(1);
  for (int fd : {in.fd[1], out.fd[0], err.fd[0]}) ::fcntl(fd, F_SETFL, O_NONBLOCK);
  if (input.empty()) in.close_end(1);

  Result r;
  std::string err_all;
  std::size_t written = 0;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_seconds);
  {
    SigpipeBlock block;
    while (out.fd[0] >= 0 || err.fd[0] >= 0) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - std::chrono::steady_clock::now())
                            .count();
      if (left <= 0) {
        r.timed_out = true;
        break;
      }
      pollfd fds[3];
      nfds_t n = 0;
      if (in.fd[1] >= 0) fds[n++] = {in.fd[1], POLLOUT, 0};
      if (out.fd[0] >= 0) fds[n++] = {out.fd[0], POLLIN, 0};
      if (err.fd[0] >= 0) fds[n++] = {err.fd[0], POLLIN, 0};
      const int ready = ::poll(fds, n, static_cast<int>(std::min<long long>(left, 1000)));
      if (ready < 0 && errno != EINTR) {
        throw Error(fmt::format("poll on {}'s pipes: {}", argv[0], std::strerror(errno)));
      }
      if (ready <= 0) continue;
      for (nfds_t i = 0; i < n; ++i) {
        if (fds[i].revents == 0) continue;
        if (fds[i].fd == in.fd[1]) {
          const ssize_t w = ::write(in.fd[1], input.data() + written, input.size() - written);
          if (w > 0) written += static_cast<std::size_t>(w);
          if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == input.size()) {
            in.close_end(1);  // done, or the program stopped reading (EPIPE)
          }
          continue;
        }
        char buffer[65536];
        const ssize_t got = ::read(fds[i].fd, buffer, sizeof(buffer));
        if (got > 0) {
          (fds[i].fd == out.fd[0] ? r.out : err_all).append(buffer, static_cast<std::size_t>(got));
          if (err_all.size() > 2 * err_tail_bytes + 65536) {
            err_all.erase(0, err_all.size() - err_tail_bytes);
          }
        } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
          (fds[i].fd == out.fd[0] ? out : err).close_end(0);
        }
      }
    }
    in.close_end(1);
  }
  if (r.timed_out) ::kill(-pid, SIGKILL);
  int status = 0;
  // After its output closed the program is exiting; wait for it, up to the deadline.
  for (;;) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (done < 0 && errno != EINTR) break;
    if (!r.timed_out && std::chrono::steady_clock::now() > deadline) {
      r.timed_out = true;
      ::kill(-pid, SIGKILL);
    }
    ::usleep(1000);
  }
  if (WIFEXITED(status)) r.exit_status = WEXITSTATUS(status);
  if (WIFSIGNALED(status) && !r.timed_out) r.signal = WTERMSIG(status);
  r.err_tail =
      err_all.size() > err_tail_bytes ? err_all.substr(err_all.size() - err_tail_bytes) : err_all;
  return r;
}

}  // namespace infalign::subprocess
