// A supervised child command whose stdout the pipeline reads: started without a shell
// (posix_spawnp, argv as given), stdout on a pipe, terminated and reaped on stop. Shared by the
// H.264 passthrough pipe source and the raw-frame pipe source.
#pragma once
#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace kvs::media {

class ChildProcess {
 public:
  ChildProcess() = default;
  ~ChildProcess() { terminate(); }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Starts argv[0] (looked up in PATH) with stdout on a pipe. false + *error naming the command.
  bool start(const std::vector<std::string>& argv, std::string* error);
  // The read end of the child's stdout (-1 when not running).
  int stdout_fd() const { return fd_; }
  pid_t pid() const { return pid_; }
  // SIGTERM, then reaps it; SIGKILL if it has not exited after grace. Idempotent.
  void terminate(std::chrono::milliseconds grace = std::chrono::milliseconds(2000));

  // Reads up to `size` bytes, waiting at most timeout_ms. >0 bytes read, 0 end of stream (the
  // command exited or closed stdout), -1 timeout (nothing yet), -2 error.
  static long read_some(int fd, uint8_t* buf, size_t size, int timeout_ms);

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
};

// Restart delay after a command dies: 0.5 s doubling to 10 s, back to 0.5 s after a run that
// lasted 10 s or more.
class Backoff {
 public:
  std::chrono::milliseconds next(std::chrono::steady_clock::duration last_run) {
    if (last_run >= std::chrono::seconds(10)) delay_ = std::chrono::milliseconds(500);
    auto d = delay_;
    delay_ = std::min(delay_ * 2, std::chrono::milliseconds(10000));
    return d;
  }

 private:
  std::chrono::milliseconds delay_{500};
};

}  // namespace kvs::media
