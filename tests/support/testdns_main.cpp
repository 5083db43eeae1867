// sendcheck-testdns: the loopback test DNS server as a process, for tests
// that run our tools as executables. Prints the port, then serves until
// SIGTERM or SIGINT.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "dns_test_server.h"

namespace {

constexpr int exit_bad_input = 2;
constexpr int exit_unavailable = 3;

struct Options {
  std::vector<std::string> zone_files;
  std::string zone_dir;
  std::string faults_file;
  std::uint16_t port = 0;
  std::string port_file;
  int delay_ms = 0;
  std::string count_file;
};

int fail(int exit_code, const std::string& message) {
  std::cerr << "sendcheck-testdns: error: " << message << '\n';
  return exit_code;
}

// Written to a temporary name and renamed, so that a test polling for the
// file never reads half a number.
bool write_port_file(const std::string& path, std::uint16_t port) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream file(temporary, std::ios::trunc);
    file << port << '\n';
    file.close();
    if (!file) return false;
  }
  std::error_code error;
  std::filesystem::rename(temporary, path, error);
  return !error;
}

int serve(const Options& options) {
  using namespace sendcheck::testing;
  DnsTestServerConfig config;
  auto zones = load_zones(options.zone_files, options.zone_dir);
  if (!zones) return fail(exit_bad_input, zones.error().message);
  config.zones = std::move(zones).value();
  if (!options.faults_file.empty()) {
    auto faults = parse_faults_file(options.faults_file);
    if (!faults) return fail(exit_bad_input, faults.error().message);
    config.faults = std::move(faults).value();
  }
  config.port = options.port;
  config.answer_delay = std::chrono::milliseconds(options.delay_ms);

  // Blocked before the server's thread starts, which inherits the mask, so
  // that sigwait below is the only place these signals arrive.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto server = DnsTestServer::start(std::move(config));
  if (!server) return fail(exit_unavailable, server.error().message);
  const std::uint16_t port = (*server)->port();
  // The file first: a test that has read the port from stdout may then
  // expect the file to be there.
  if (!options.port_file.empty() && !write_port_file(options.port_file, port)) {
    return fail(exit_unavailable, options.port_file + ": cannot write the port file");
  }
  std::cout << port << std::endl;
  if (!std::cout) return fail(exit_unavailable, "cannot write to stdout");
  int received = 0;
  // SIGUSR1 writes the questions received so far and resets the count
  // (bench/batch: one count per measured run); SIGTERM and SIGINT stop.
  for (;;) {
    sigwait(&stop_signals, &received);
    if (received != SIGUSR1) break;
    if (options.count_file.empty()) continue;
    const std::string temporary = options.count_file + ".tmp";
    {
      std::ofstream file(temporary, std::ios::trunc);
      file << (*server)->total_queries() << '\n';
    }
    (*server)->reset_counts();
    std::error_code error;
    std::filesystem::rename(temporary, options.count_file, error);
  }
  return 0;  // the server stops and joins as it goes out of scope
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Loopback DNS server for sendcheck's tests: answers from zone files, injects faults."};
  Options options;
  app.add_option("--zone", options.zone_files, "Zone file to serve (repeatable)")->check(CLI::ExistingFile);
  app.add_option("--zone-dir", options.zone_dir, "Serve every *.zone file in this directory")
      ->check(CLI::ExistingDirectory);
  app.add_option("--faults", options.faults_file, "Fault file: NAME TYPE ACTION [ARG] per line")
      ->check(CLI::ExistingFile);
  app.add_option("--port", options.port, "Port for UDP and TCP (default: any free port)");
  app.add_option("--port-file", options.port_file, "Also write the port to this file");
  app.add_option("--delay", options.delay_ms, "Hold every answer this many milliseconds (a distant server)")
      ->check(CLI::Range(0, 600000));
  app.add_option("--count-file", options.count_file, "On SIGUSR1, write the number of questions received since the last to this file");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return 0;
  } catch (const CLI::ParseError& error) {
    return fail(exit_bad_input, error.what());
  }
  if (options.zone_files.empty() && options.zone_dir.empty()) {
    return fail(exit_bad_input, "give at least one --zone FILE or --zone-dir DIR");
  }
  return serve(options);
}
