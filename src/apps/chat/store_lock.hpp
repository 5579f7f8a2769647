// The one-writer rule of a chat's SQLite file across processes: whoever serves from the file
// holds an exclusive lock (flock) on `<db>.lock`, with its PID written in the file, so that a
// successor started on the same port knows whom to tell to go (SIGUSR2) and when the file is
// its own. The kernel drops the lock when the holder exits, however it exits.
#pragma once

#include <sys/types.h>

#include <string>

namespace hibiki::apps::chat {

class StoreLock {
 public:
  // Opens (creating) `path`; throws std::system_error when it cannot. Takes nothing yet.
  explicit StoreLock(std::string path);
  ~StoreLock();  // releases the lock if held
  StoreLock(const StoreLock&) = delete;
  StoreLock& operator=(const StoreLock&) = delete;

  // Takes the lock without waiting and writes this process' PID into the file. True when held
  // (already or now); false when another process holds it.
  bool try_acquire();
  // Gives the lock back (the file stays: removing it would let two processes lock two files).
  void release();
  [[nodiscard]] bool held() const { return held_; }
  // The PID the holder wrote; 0 when the file holds none yet (the holder is between its
  // flock and its write) or cannot be read.
  [[nodiscard]] pid_t holder_pid() const;
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
  bool held_ = false;
};

}  // namespace hibiki::apps::chat
