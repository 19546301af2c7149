#pragma once
// The immutable context a stage receives and returns (the seed's
// execute(context) -> context): configuration, the group being worked on,
// first-stage inputs, outputs accumulated by earlier stages, and I/O counters
// that the runner turns into MB/s. Every with_* returns a new Context.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/resources.h"
#include "config/config.h"
#include "pipeline/keys.h"

namespace contimg {
class InterruptGuard;
}
namespace contimg::state {
struct DomainRecord;
}

namespace contimg::pipeline {

using Value = std::variant<std::string, std::int64_t, double, bool, std::vector<std::string>>;
nlohmann::json to_json(const Value& v);
ValueType type_of(const Value& v);
class StateView;

struct IoCounters {
  std::uint64_t bytes_read = 0;
  std::uint64_t bytes_written = 0;
};

class Context {
 public:
  Context(std::shared_ptr<const config::Config> config, std::string group_id,
          std::map<std::string, Value> inputs = {}, const InterruptGuard* interrupts = nullptr);

  const config::Config& config() const { return *config_; }
  const std::string& group_id() const { return group_id_; }
  const std::map<std::string, Value>& inputs() const { return inputs_; }
  const std::map<std::string, Value>& outputs() const { return outputs_; }
  const IoCounters& io() const { return io_; }
  // The stage's own temporary directory (set by the runner, removed after the stage).
  const std::filesystem::path& scratch_dir() const { return scratch_dir_; }
  // The threads and memory this stage may use (resources.* unless the caller
  // handed it a share).
  const Resources& resources() const { return resources_; }

  // Typed look-ups: outputs first, then inputs. Throw std::out_of_range naming
  // the key when absent or of another type.
  std::string get_string(const std::string& key) const;
  std::int64_t get_int(const std::string& key) const;
  double get_double(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  std::vector<std::string> get_strings(const std::string& key) const;
  bool has(const std::string& key) const;
  // The value of `key` (outputs first, then inputs); nullptr when absent.
  const Value* find(const std::string& key) const;

  // Typed keys (pipeline/keys.h): the same look-ups, the type from the key.
  template <typename T>
  T get(Key<T> key) const {
    return std::get<T>(lookup_typed(key));
  }
  template <typename T>
  bool has(Key<T> key) const {
    return has(std::string(key.name));
  }
  template <typename T>
  Context with(Key<T> key, T value) const {
    return with_output(std::string(key.name), Value(std::move(value)));
  }

  // Records for the state database (state/records.h), in the order added; the
  // orchestrator stores those a stage added with its job's completion.
  const std::vector<std::shared_ptr<const state::DomainRecord>>& records() const { return records_; }
  Context with_record(state::DomainRecord record) const;
  Context without_records() const;
  // The read-only state the orchestrator gives this job (nullptr: none).
  const StateView* state() const { return state_; }
  Context with_state(const StateView* view) const;

  Context with_output(const std::string& key, Value value) const;
  Context with_outputs(const std::map<std::string, Value>& values) const;
  Context with_io(std::uint64_t bytes_read, std::uint64_t bytes_written) const;  // adds
  Context with_scratch_dir(std::filesystem::path dir) const;
  Context with_resources(Resources r) const;

  // Throws contimg::Cancelled after SIGINT/SIGTERM; long loops call it.
  void throw_if_interrupted() const;
  const InterruptGuard* interrupts() const { return interrupts_; }

  nlohmann::json to_json() const;

 private:
  const Value& lookup(const std::string& key) const;
  const Value& lookup_typed(KeySpec key) const;

  std::shared_ptr<const config::Config> config_;
  std::string group_id_;
  std::map<std::string, Value> inputs_;
  std::map<std::string, Value> outputs_;
  IoCounters io_;
  std::filesystem::path scratch_dir_;
  Resources resources_;
  const InterruptGuard* interrupts_ = nullptr;
  std::vector<std::shared_ptr<const state::DomainRecord>> records_;
  const StateView* state_ = nullptr;
};

}  // namespace contimg::pipeline
