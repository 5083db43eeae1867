// Sign-in paging at scale against the mock tenant (tests/support/graph_mock.h):
// 100,000 "Authenticated SMTP" sign-ins over 100 pages of 1,000, and 1,000
// sign-ins in one page of 1,000 (the same page size), each in its own child
// process so that its peak resident size (wait4's ru_maxrss) is its own.
// The client parses one page at a time and hands rows to a sink that keeps
// a per-sender summary, as the inventory does: peak memory must not grow with
// the number of rows. Prints one line per run and the ratio.
//
//   graph_bench [ROWS PAGES]...      (default: 100000 100 and 1000 1)
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "graph_mock.h"

namespace {

struct Measurement {
  long long rows = 0, pages = 0, milliseconds = 0, peak_kb = 0;
  bool ok = false;
};

// Runs in the child: the mock tenant and the client, in one process.
int measure(int rows, int pages, int out) {
  graph_testing::MockTenantConfig config;
  config.interactive_pages = pages;
  config.rows_per_page = rows / pages;
  graph_testing::MockMicrosoft mock(config);
  auto settings = mock.settings();
  auto tokens = diag::graph::client_secret_tokens(settings, config.client_id, config.client_secret);
  diag::graph::Client client(settings, *tokens);
  diag::graph::SignInQuery query;
  query.since = std::chrono::sys_days(std::chrono::year(2026) / 11 / 1);
  std::map<std::pair<std::string, std::string>, long> per_sender;  // what the inventory keeps
  const auto started = std::chrono::steady_clock::now();
  auto result = client.signins(diag::graph::SignInLog::interactive, query,
                               [&](const diag::inventory::SignIn& signin) { ++per_sender[{signin.user, signin.ip}]; });
  const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  if (!result) {
    std::fprintf(stderr, "graph_bench: %s\n", result.failure().message.c_str());
    return 1;
  }
  const std::string line = std::to_string(result->rows) + " " + std::to_string(result->pages) + " " +
                           std::to_string(elapsed.count()) + "\n";
  return ::write(out, line.data(), line.size()) == static_cast<ssize_t>(line.size()) ? 0 : 1;
}

Measurement run_child(int rows, int pages) {
  Measurement measurement;
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) return measurement;
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(pipe_fds[0]);
    ::_exit(measure(rows, pages, pipe_fds[1]));
  }
  ::close(pipe_fds[1]);
  char buffer[128] = {};
  const ssize_t length = ::read(pipe_fds[0], buffer, sizeof buffer - 1);
  ::close(pipe_fds[0]);
  int status = 0;
  rusage usage{};
  if (child < 0 || ::wait4(child, &status, 0, &usage) != child) return measurement;
  measurement.peak_kb = usage.ru_maxrss;
  if (length > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
      std::sscanf(buffer, "%lld %lld %lld", &measurement.rows, &measurement.pages, &measurement.milliseconds) == 3)
    measurement.ok = true;
  return measurement;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);  // the mock writes to a client that may have hung up
  std::vector<std::pair<int, int>> runs = {{100000, 100}, {1000, 1}};
  if (argc > 1) {
    runs.clear();
    for (int i = 1; i + 1 < argc; i += 2) runs.emplace_back(std::atoi(argv[i]), std::atoi(argv[i + 1]));
  }
  std::vector<Measurement> results;
  for (const auto& [rows, pages] : runs) {
    const Measurement m = run_child(rows, pages);
    if (!m.ok) {
      std::fprintf(stderr, "graph_bench: the run with %d rows failed\n", rows);
      return 1;
    }
    std::printf("%lld sign-ins over %lld pages: %lld ms (%.0f rows/s), peak RSS %lld KB\n", m.rows, m.pages, m.milliseconds,
                m.milliseconds ? m.rows * 1000.0 / m.milliseconds : 0.0, m.peak_kb);
    results.push_back(m);
  }
  if (results.size() >= 2) {
    const double ratio = static_cast<double>(results[0].peak_kb) / static_cast<double>(results[1].peak_kb);
    std::printf("peak RSS ratio (%lld rows / %lld rows): %.2f\n", results[0].rows, results[1].rows, ratio);
    std::printf("RESULT name=graph what=\"%lld sign-ins over %lld pages from the mock tenant (peak RSS %.2fx that of %lld)\" "
                "ours=%lld unit=ms peer=- peer_value=- ratio=-\n",
                results[0].rows, results[0].pages, ratio, results[1].rows, results[0].milliseconds);
    // Memory holds one page: a hundred times the rows may not cost twice the memory.
    if (ratio > 2.0) {
      std::fprintf(stderr, "graph_bench: peak memory grew with the row count (%.2fx)\n", ratio);
      return 1;
    }
  }
  return 0;
}
