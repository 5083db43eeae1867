// sendcheck-listen's signal thread: owned, so a SIGTERM that arrives after
// the server is gone reaches nothing. The bad moment is made, not waited
// for: the server stops by itself (as after --sessions N), is destroyed, and
// only then does the SIGTERM come.
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <diag/stop_on_signal.h>

#include "smtp_test_support.h"

using namespace smtp_testing;
using namespace std::chrono_literals;

namespace {

diag::smtp::ServerConfig loopback_server() {
  diag::smtp::ServerConfig config;
  config.profile = diag::smtp::accept_all_profile();
  config.credentials = server_credentials("mail.sendcheck.test");
  config.command_timeout = 2000ms;
  return config;
}

bool sigterm_pending() {
  sigset_t pending;
  sigemptyset(&pending);
  sigpending(&pending);
  return sigismember(&pending, SIGTERM) == 1;
}

// Takes the pending SIGTERM so that the test leaves the process as it found it.
void consume_sigterm() {
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  const timespec none{0, 0};
  sigtimedwait(&term, nullptr, &none);
}

class RestoreSignalMask {
 public:
  RestoreSignalMask() { pthread_sigmask(SIG_SETMASK, nullptr, &saved_); }
  ~RestoreSignalMask() { pthread_sigmask(SIG_SETMASK, &saved_, nullptr); }

 private:
  sigset_t saved_{};
};

}  // namespace

TEST_CASE("StopOnSignal: a SIGTERM while the server runs stops it", "[listen][signal]") {
  RestoreSignalMask restore;
  diag::StopOnSignal::block();  // before the server's threads, as sendcheck-listen does
  auto server = start_server(loopback_server());
  diag::StopOnSignal watcher([running = server.get()] { running->stop(); });
  REQUIRE(kill(getpid(), SIGTERM) == 0);
  server->wait();  // returns only once the watcher stopped the server
  CHECK(watcher.signalled());
  CHECK_FALSE(sigterm_pending());
}

TEST_CASE("StopOnSignal: a SIGTERM after the server is destroyed touches nothing", "[listen][signal]") {
  RestoreSignalMask restore;
  diag::StopOnSignal::block();
  auto server = start_server(loopback_server());
  {
    diag::StopOnSignal watcher([running = server.get()] { running->stop(); });
    server->stop();  // the server ends by itself, as after --sessions N
    server->wait();
    CHECK_FALSE(watcher.signalled());
  }
  server.reset();
  // The bad moment: a thread still waiting for signals would now call stop()
  // on freed memory (ASan: heap-use-after-free) and take the signal. With
  // the thread joined, nobody takes it: it stays pending. The pause gives a
  // stray waiting thread ample time to take it, so that without the fix the
  // check below fails even without ASan.
  REQUIRE(kill(getpid(), SIGTERM) == 0);
  std::this_thread::sleep_for(300ms);
  CHECK(sigterm_pending());
  consume_sigterm();
  CHECK_FALSE(sigterm_pending());
}
