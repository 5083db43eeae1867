#include "diag/stop_on_signal.h"

#include <pthread.h>

namespace diag {

namespace {

sigset_t stop_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  return signals;
}

}  // namespace

void StopOnSignal::block() {
  const sigset_t signals = stop_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
}

StopOnSignal::StopOnSignal(std::function<void()> stop) : signals_(stop_signals()), stop_(std::move(stop)) {
  block();
  thread_ = std::thread([this] {
    int received = 0;
    sigwait(&signals_, &received);
    // The destructor's own wake-up (or a signal racing with it) stops nothing:
    // whatever stop_ touches may already be on its way out.
    if (finishing_.load()) return;
    signalled_ = true;
    stop_();
  });
}

StopOnSignal::~StopOnSignal() {
  finishing_ = true;
  // A signal directed at the waiting thread wakes its sigwait; if it already
  // returned (a real signal came first) the thread is ending and this one is
  // dropped with it.
  pthread_kill(thread_.native_handle(), SIGTERM);
  thread_.join();
}

}  // namespace diag
