#pragma once
// A pipeline stage: one class, one job. The runner calls, in order,
//   is_done (skip when the product already exists: idempotence, resumption;
//   then restore gives the product's outputs to later stages),
//   validate (prerequisites), execute, validate_outputs, and cleanup (always,
//   with whether the stage succeeded, so partial products can be removed).
#include <filesystem>
#include <string>
#include <vector>

#include "pipeline/context.h"

namespace contimg::pipeline {

// A product a stage writes at a final path. Directory products (an MS, a
// calibration table) carry an identity token file written by the
// orchestrator; file products are identified by size and mtime.
struct ProductRef {
  std::filesystem::path path;
  std::string kind;  // ms, caltable, image, catalogue, report, ...
};

class Stage {
 public:
  virtual ~Stage() = default;

  virtual std::string name() const = 0;

  // True when this stage's product for the context already exists and is
  // valid; the runner then records "skipped" and carries on.
  virtual bool is_done(const Context&) const { return false; }

  // For a stage found done: the context with the outputs that execute would
  // have given, read back from the existing product, so that later stages of
  // a resumed chain find them. Throws like execute when the product is unreadable.
  virtual Context restore(const Context& context) const { return context; }

  // Throws (ConfigError/InputError) with the reason when prerequisites are missing.
  virtual void validate(const Context&) const {}

  // Does the work; returns a new context with the stage's outputs and I/O counts.
  virtual Context execute(const Context& context) = 0;

  // Throws when the outputs are not as promised; the stage then counts as failed.
  virtual void validate_outputs(const Context&) const {}

  // Called after every attempt. Must not throw.
  virtual void cleanup(const Context&, bool /*succeeded*/) noexcept {}

  // ---- what the orchestrator needs (provenance, trust, freshness)
  // The final paths execute will write, known before it runs: a path there
  // without a product record is not trusted (moved aside or refused).
  virtual std::vector<ProductRef> planned_products(const Context&) const { return {}; }
  // The products an execution made, from its output context.
  virtual std::vector<ProductRef> products(const Context& out) const { return planned_products(out); }
  // Prefixes of the configuration keys that change this stage's product
  // ("flagging."): part of the product's version, so a changed setting redoes it.
  virtual std::vector<std::string> config_prefixes() const { return {}; }

  // ---- the contract between stages (typed keys, pipeline/keys.h)
  // Keys the stage reads and cannot do without: checked (present, of the
  // key's type) before validate; a missing one fails the stage as a
  // configuration error naming it.
  virtual std::vector<KeySpec> needs() const { return {}; }
  // Keys every successful execute (or restore) leaves in the context:
  // checked after it; a broken promise fails the stage.
  virtual std::vector<KeySpec> provides() const { return {}; }
};

// Throws ConfigError naming the stage and the key when `ctx` lacks one of
// `specs` or holds it with another type; `what` is "needs" or "provides".
void check_keys(const Stage& stage, const Context& ctx, const std::vector<KeySpec>& specs,
                const char* what);

}  // namespace contimg::pipeline
