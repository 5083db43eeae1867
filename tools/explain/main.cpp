// sendcheck-explain [TEXT...] | --file FILE | stdin : what an SMTP reply or
// bounce means and what to do about it.
#include <diag/cli.h>
#include <diag/explain.h>

namespace {
constexpr const char* tool = "sendcheck-explain";
}

int main(int argc, char** argv) {
  diag::explain::ToolOptions options;
  CLI::App app{"Explain an SMTP reply or bounce and what to do about it", tool};
  diag::cli::add_common_options(app, options.common, /*with_dns=*/false);
  app.add_option("text", options.text, "Reply text (default: read standard input)")->type_name("TEXT...");
  app.add_option("--file", options.file, "Read FILE: a log, NDR, transcript or sendcheck JSON ('-' = stdin)")
      ->type_name("FILE");
  diag::cli::describe(app, {"sendcheck-explain '550 5.7.30 Basic authentication is not supported for Client Submission.'",
                            "sendcheck-explain --file ndr.eml",
                            "sendcheck-probe smtp.office365.com --port 587 --json | sendcheck-explain --file -"},
                      "Exit codes:\n"
                      "  0  the input holds only success replies (2xx, 3xx)\n"
                      "  1  the input holds a failure reply (4xx or 5xx): the output says what it means and what to do\n"
                      "  2  usage error or bad input: an option, an unreadable file, or no SMTP reply in the input\n"
                      "  3  could not complete: the output could not be written\n");
  if (auto exit_code = diag::cli::parse(app, argc, argv)) return *exit_code;
  return diag::cli::run_guarded(tool, [&] { return diag::explain::run_tool(options); });
}
