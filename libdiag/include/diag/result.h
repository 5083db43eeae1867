// Expected failures are values: a function that can fail for a reason the
// caller must handle returns Result<T> instead of throwing.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace diag {

// What kind of failure, so a tool can map it to its exit code without
// parsing messages: bad input is exit 2, could-not-complete is exit 3.
enum class ErrorKind {
  bad_input,   // the user gave us something we cannot use (file, option, name)
  unavailable, // network, resolver or peer failure: could not complete
  internal,    // a bug or resource exhaustion
};

struct Error {
  ErrorKind kind = ErrorKind::internal;
  std::string message;
};

template <typename T>
class Result {
 public:
  Result(T value) : state_(std::move(value)) {}
  Result(Error error) : state_(std::move(error)) {}

  bool ok() const { return std::holds_alternative<T>(state_); }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<T>(state_); }
  const T& value() const& { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { return std::get<Error>(state_); }

 private:
  std::variant<T, Error> state_;
};

inline Error bad_input(std::string message) { return Error{ErrorKind::bad_input, std::move(message)}; }
inline Error unavailable(std::string message) { return Error{ErrorKind::unavailable, std::move(message)}; }

}  // namespace diag
