// What the Graph client's source files share; not part of the public API.
#pragma once

#include <string>
#include <string_view>

#include "diag/graph.h"
#include "diag/http.h"

namespace diag::graph {

struct Client::Answer {
  long status = 0;
  std::string body, location, content_type;
};

// A peer's text for a message: first line, controls masked, bounded.
std::string bounded_text(std::string text, std::size_t limit);
std::string url_for_message(std::string_view url);
Failure transport_failure(const http::Exchange& exchange, std::string_view what);
// A non-2xx answer; permissions completes "the app needs the permission..." for a 403.
Failure status_failure(long status, std::string_view body, std::string_view what, std::string_view permissions);
Failure malformed(std::string_view what, std::string_view why);
void wait_for(const Settings& settings, std::chrono::milliseconds delay);

}  // namespace diag::graph
