// sendcheck demo: preflight on the bundled Northwind Traders setup, no network.
#include <diag/cli.h>
#include <diag/preflight.h>

int main(int argc, char** argv) {
  diag::preflight::DemoOptions o;
  CLI::App app{"Run sendcheck-preflight on the bundled demo setup: a local stand-in for the Microsoft 365 MX, no network",
               "sendcheck-demo"};
  diag::cli::add_common_options(app, o.common, false);
  app.add_option("--data", o.data_dir, "The demo data directory (default: found next to this program)")->type_name("DIR");
  diag::cli::describe(app, {"sendcheck-demo", "sendcheck-demo --json | jq .verdict"},
                      "Exit codes:\n"
                      "  1  the demo's expected result: the scanner fails SPF, so preflight says WILL NOT WORK\n"
                      "  2  usage error, or the demo data is missing\n"
                      "  3  the local stand-in server could not start\n");
  if (auto exit_code = diag::cli::parse(app, argc, argv)) return *exit_code;
  return diag::cli::run_guarded("sendcheck-demo", [&] { return diag::preflight::run_demo(o); });
}
