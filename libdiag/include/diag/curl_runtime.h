// libcurl, loaded when a tool first fetches something over HTTP(S), not
// linked: its dependency tree (about 30 libraries) would double the start-up
// time and resident size of every run, and most runs never fetch anything.
#pragma once

#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>

#include <memory>
#include <string>

namespace diag::curl {

// The libcurl functions sendcheck uses, from libcurl.so.4.
struct Library {
  CURL* (*easy_init)() = nullptr;
  CURLcode (*easy_setopt)(CURL*, CURLoption, ...) = nullptr;
  CURLcode (*easy_perform)(CURL*) = nullptr;
  CURLcode (*easy_getinfo)(CURL*, CURLINFO, ...) = nullptr;
  void (*easy_cleanup)(CURL*) = nullptr;
  const char* (*easy_strerror)(CURLcode) = nullptr;
  char* (*easy_escape)(CURL*, const char*, int) = nullptr;
  void (*free)(void*) = nullptr;
  curl_slist* (*slist_append)(curl_slist*, const char*) = nullptr;  // request headers (Graph)
  void (*slist_free_all)(curl_slist*) = nullptr;
  curl_version_info_data* (*version_info)(CURLversion) = nullptr;  // sendcheck --version
  std::string load_error;  // set when the library or a function is missing

  bool loaded() const { return load_error.empty(); }
};

// Loaded and globally initialized once, kept for the life of the process
// (libcurl's global state must not be torn down while a thread may use it).
const Library& library();

struct EasyDeleter {
  void operator()(CURL* handle) const { library().easy_cleanup(handle); }
};
using EasyHandle = std::unique_ptr<CURL, EasyDeleter>;

struct SlistDeleter {
  void operator()(curl_slist* list) const { library().slist_free_all(list); }
};
using HeaderList = std::unique_ptr<curl_slist, SlistDeleter>;

// A new easy handle, or null when libcurl is not available.
EasyHandle easy_handle();

// URL-encodes text (curl_easy_escape), for form bodies.
std::string escape(CURL* handle, const std::string& text);

}  // namespace diag::curl
