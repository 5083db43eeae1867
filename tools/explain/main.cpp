// sendcheck-explain [TEXT...] | --file FILE | stdin : what an SMTP reply or
// bounce means and what to do about it.
#include <unistd.h>

#include <cstdio>

#include <diag/cli.h>
#include <diag/explain.h>
#include <diag/version.h>

namespace {

constexpr const char* tool = "sendcheck-explain";

struct Options {
  diag::cli::CommonOptions common;
  std::vector<std::string> text;
  std::string file;
};

int run(const Options& options) {
  if (!options.text.empty() && !options.file.empty())
    return diag::cli::print_error(tool, "give TEXT or --file FILE, not both"), diag::exit_usage;
  diag::Result<diag::explain::ExplainResult> result = diag::bad_input("no input");
  if (!options.text.empty()) {
    result = diag::explain::explain_text(diag::explain::join_arguments(options.text));
  } else if (!options.file.empty()) {
    result = diag::explain::explain_file(options.file);
  } else {
    if (isatty(STDIN_FILENO)) std::fprintf(stderr, "%s: reading replies from standard input; end with Ctrl-D\n", tool);
    result = diag::explain::explain_fd(STDIN_FILENO, "standard input");
  }
  if (!result) return diag::cli::print_error(tool, result.error().message), diag::cli::exit_code_for(result.error());

  diag::Report report(tool, diag::version);
  for (auto& check : diag::explain::checks(*result)) report.add(std::move(check));
  report.fields()["matches"] = diag::explain::matches_json(*result);
  report.fields()["scanned"] = {{"bytes", result->bytes},
                                {"lines", result->lines},
                                {"replies", result->replies},
                                {"long_lines", result->long_lines},
                                {"encoding", result->encoding},
                                {"stopped_at_limit", result->stopped_at_limit},
                                {"json_too_deep", result->json_too_deep}};
  if (result->stopped_at_limit)
    std::fprintf(stderr, "%s: stopped reading at the input limit (%zu MiB or %zu Mi lines); replies after it are not "
                 "counted\n", tool, diag::explain::max_input_bytes >> 20, diag::explain::max_input_lines >> 20);
  if (options.common.verbose)
    std::fprintf(stderr, "%s: scanned %zu bytes, %zu lines, %zu replies, %zu distinct, %zu long lines cut\n", tool,
                 result->bytes, result->lines, result->replies, result->explanations.size(), result->long_lines);
  const auto style = diag::TextStyle::for_stream(stdout, options.common.no_color);
  const auto text = diag::explain::render_text(*result, style, options.common.verbose);
  // The shared rule: a failure reply (4xx too, whose check is only a
  // warning) is a finding, exit 1; only success replies, 0.
  if (diag::cli::finish(tool, report, text, options.common) == diag::exit_incomplete) return diag::exit_incomplete;
  return diag::explain::exit_code_for(*result);
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app{"Explain an SMTP reply or bounce and what to do about it", tool};
  diag::cli::add_common_options(app, options.common, /*with_dns=*/false);
  app.add_option("text", options.text, "Reply text (default: read standard input)")->type_name("TEXT...");
  app.add_option("--file", options.file, "Read FILE: a log, NDR, transcript or sendcheck JSON ('-' = stdin)")
      ->type_name("FILE");
  if (auto exit_code = diag::cli::parse(app, argc, argv)) return *exit_code;
  return diag::cli::run_guarded(tool, [&] { return run(options); });
}
