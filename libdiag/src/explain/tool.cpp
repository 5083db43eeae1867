// sendcheck-explain's run: the input read (TEXT..., --file or standard
// input), explained, and the report written.
#include <unistd.h>

#include <cstdio>

#include "diag/explain.h"
#include "diag/version.h"

namespace diag::explain {
namespace {

constexpr const char* tool = "sendcheck-explain";

}  // namespace

int run_tool(const ToolOptions& options) {
  if (!options.text.empty() && !options.file.empty())
    return cli::print_error(tool, "give TEXT or --file FILE, not both"), exit_usage;
  Result<ExplainResult> result = bad_input("no input");
  if (!options.text.empty()) {
    result = explain_text(join_arguments(options.text));
  } else if (!options.file.empty()) {
    result = explain_file(options.file);
  } else {
    if (isatty(STDIN_FILENO)) std::fprintf(stderr, "%s: reading replies from standard input; end with Ctrl-D\n", tool);
    result = explain_fd(STDIN_FILENO, "standard input");
  }
  if (!result) return cli::print_error(tool, result.error().message), cli::exit_code_for(result.error());

  Report report(tool, version);
  for (auto& check : checks(*result)) report.add(std::move(check));
  report.fields()["matches"] = matches_json(*result);
  report.fields()["scanned"] = {{"bytes", result->bytes},
                                {"lines", result->lines},
                                {"replies", result->replies},
                                {"long_lines", result->long_lines},
                                {"encoding", result->encoding},
                                {"stopped_at_limit", result->stopped_at_limit},
                                {"json_too_deep", result->json_too_deep}};
  if (result->stopped_at_limit)
    std::fprintf(stderr, "%s: stopped reading at the input limit (%zu MiB or %zu Mi lines); replies after it are not "
                 "counted\n", tool, max_input_bytes >> 20, max_input_lines >> 20);
  if (options.common.verbose)
    std::fprintf(stderr, "%s: scanned %zu bytes, %zu lines, %zu replies, %zu distinct, %zu long lines cut\n", tool,
                 result->bytes, result->lines, result->replies, result->explanations.size(), result->long_lines);
  const auto style = TextStyle::for_stream(stdout, options.common.no_color);
  const auto text = render_text(*result, style, options.common.verbose);
  // The shared rule: a failure reply (4xx too, whose check is only a
  // warning) is a finding, exit 1; only success replies, 0.
  if (cli::finish(tool, report, text, options.common) == exit_incomplete) return exit_incomplete;
  return exit_code_for(*result);
}

}  // namespace diag::explain
