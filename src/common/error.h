#pragma once
// The small error hierarchy the orchestrator uses to tell failures apart:
// a ConfigError is the user's to fix (exit 2), an InputError is bad data that
// fails one group and lets the others go on (exit 3), an IoError is the
// environment's (disk full, permissions; retryable), Cancelled is a signal.
#include <stdexcept>
#include <string>

namespace contimg {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ConfigError : public Error {
 public:
  using Error::Error;
};

// Malformed or inconsistent input data. Messages name the file, the dataset
// and the problem.
class InputError : public Error {
 public:
  using Error::Error;
};

class IoError : public Error {
 public:
  using Error::Error;
};

class Cancelled : public Error {
 public:
  using Error::Error;
};

// Process exit codes, documented in docs/cli.md.
enum class ExitCode : int {
  kOk = 0,
  kFailure = 1,      // processing failed (some group or stage)
  kUsage = 2,        // bad command line or configuration
  kInputError = 3,   // input data unreadable or invalid
  kIoError = 4,      // environment: disk, permissions
  kInterrupted = 130 // SIGINT/SIGTERM
};

}  // namespace contimg
