// SIGINT and SIGTERM for a long-running tool (sendcheck-listen): one thread
// waits for them and runs a stop action, so that no other thread ever sees
// a signal. The object owns that thread: its destructor wakes and joins it,
// so the stop action can never run after the object is gone. Destroy it
// before whatever the action touches (the server it stops).
#pragma once

#include <signal.h>

#include <atomic>
#include <functional>
#include <thread>

namespace diag {

class StopOnSignal {
 public:
  // Blocks SIGINT and SIGTERM in the calling thread (threads started after
  // this inherit the mask: construct it before them) and starts the waiting
  // thread. They stay blocked afterwards: a signal that arrives once the
  // object is gone stays pending and harmless until the process exits.
  explicit StopOnSignal(std::function<void()> stop);
  // Blocks them in the calling thread only: call it before starting the
  // threads (a server's) that the object is made to stop afterwards.
  static void block();
  ~StopOnSignal();
  StopOnSignal(const StopOnSignal&) = delete;
  StopOnSignal& operator=(const StopOnSignal&) = delete;

  // True once a signal ran the stop action.
  bool signalled() const { return signalled_.load(); }

 private:
  sigset_t signals_{};
  std::function<void()> stop_;
  std::atomic<bool> finishing_{false};
  std::atomic<bool> signalled_{false};
  std::thread thread_;
};

}  // namespace diag
