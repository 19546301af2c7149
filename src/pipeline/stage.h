#pragma once
// A pipeline stage: one class, one job. The runner calls, in order,
//   is_done (skip when the product already exists: idempotence, resumption),
//   validate (prerequisites), execute, validate_outputs, and cleanup (always,
//   with whether the stage succeeded, so partial products can be removed).
#include <string>

#include "pipeline/context.h"

namespace contimg::pipeline {

class Stage {
 public:
  virtual ~Stage() = default;

  virtual std::string name() const = 0;

  // True when this stage's product for the context already exists and is
  // valid; the runner then records "skipped" and carries on.
  virtual bool is_done(const Context&) const { return false; }

  // Throws (ConfigError/InputError) with the reason when prerequisites are missing.
  virtual void validate(const Context&) const {}

  // Does the work; returns a new context with the stage's outputs and I/O counts.
  virtual Context execute(const Context& context) = 0;

  // Throws when the outputs are not as promised; the stage then counts as failed.
  virtual void validate_outputs(const Context&) const {}

  // Called after every attempt. Must not throw.
  virtual void cleanup(const Context&, bool /*succeeded*/) noexcept {}
};

}  // namespace contimg::pipeline
