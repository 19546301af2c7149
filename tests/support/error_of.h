#pragma once
// The message of the exception of type E that f() throws; a test failure (and
// "") when it throws nothing or something else.
#include <gtest/gtest.h>

#include <exception>
#include <string>

namespace contimg::test {

template <typename E, typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
    return {};
  }
  ADD_FAILURE() << "expected exception not thrown";
  return {};
}

}  // namespace contimg::test
