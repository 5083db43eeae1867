#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <csignal>

int main(int argc, char* argv[]) {
  // Peers in these tests hang up on purpose; a write to one must fail with
  // EPIPE, not end the run. The tools do the same (cli::parse).
  std::signal(SIGPIPE, SIG_IGN);
  return Catch::Session().run(argc, argv);
}
