#include "diag/curl_runtime.h"

#include <dlfcn.h>

namespace diag::curl {
namespace {

template <typename Function>
bool bind(void* handle, const char* name, Function& out) {
  out = reinterpret_cast<Function>(dlsym(handle, name));
  return out != nullptr;
}

Library load() {
  Library loaded;
  void* handle = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* why = dlerror();
    loaded.load_error = std::string("cannot load libcurl (Debian package libcurl4): ") + (why ? why : "unknown error");
    return loaded;
  }
  CURLcode (*global_init)(long) = nullptr;
  const bool complete = bind(handle, "curl_global_init", global_init) &&
                        bind(handle, "curl_easy_init", loaded.easy_init) &&
                        bind(handle, "curl_easy_setopt", loaded.easy_setopt) &&
                        bind(handle, "curl_easy_perform", loaded.easy_perform) &&
                        bind(handle, "curl_easy_getinfo", loaded.easy_getinfo) &&
                        bind(handle, "curl_easy_cleanup", loaded.easy_cleanup) &&
                        bind(handle, "curl_easy_strerror", loaded.easy_strerror) &&
                        bind(handle, "curl_easy_escape", loaded.easy_escape) &&
                        bind(handle, "curl_version_info", loaded.version_info) &&
                        bind(handle, "curl_free", loaded.free) &&
                        bind(handle, "curl_slist_append", loaded.slist_append) &&
                        bind(handle, "curl_slist_free_all", loaded.slist_free_all);
  if (!complete) {
    loaded = Library{};
    loaded.load_error = "libcurl lacks a function sendcheck needs";
    return loaded;
  }
  global_init(CURL_GLOBAL_DEFAULT);
  return loaded;
}

}  // namespace

const Library& library() {
  static const Library loaded = load();  // thread-safe initialization (C++11)
  return loaded;
}

EasyHandle easy_handle() {
  const Library& curl = library();
  if (!curl.loaded()) return EasyHandle();
  return EasyHandle(curl.easy_init());
}

std::string escape(CURL* handle, const std::string& text) {
  const Library& curl = library();
  char* escaped = curl.easy_escape(handle, text.c_str(), static_cast<int>(text.size()));
  if (!escaped) return {};
  std::string out(escaped);
  curl.free(escaped);
  return out;
}

}  // namespace diag::curl
