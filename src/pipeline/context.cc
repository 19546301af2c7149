#include "pipeline/context.h"

#include <nlohmann/json.hpp>

#include "common/interrupts.h"
#include "state/records.h"

namespace contimg::pipeline {

nlohmann::json to_json(const Value& v) {
  return std::visit([](const auto& x) { return nlohmann::json(x); }, v);
}

const char* to_string(ValueType t) {
  switch (t) {
    case ValueType::kString: return "string";
    case ValueType::kInt: return "integer";
    case ValueType::kDouble: return "number";
    case ValueType::kBool: return "boolean";
    case ValueType::kStrings: return "list of strings";
  }
  return "?";
}

ValueType type_of(const Value& v) {
  return std::visit([](const auto& x) { return ValueTypeOf<std::decay_t<decltype(x)>>::value; }, v);
}

Context::Context(std::shared_ptr<const config::Config> config, std::string group_id,
                 std::map<std::string, Value> inputs, const InterruptGuard* interrupts)
    : config_(std::move(config)),
      group_id_(std::move(group_id)),
      inputs_(std::move(inputs)),
      interrupts_(interrupts) {
  if (!config_) throw std::invalid_argument("Context needs a configuration");
  resources_ = Resources::from_config(*config_);
}

Context Context::with_resources(Resources r) const {
  Context c = *this;
  c.resources_ = r;
  return c;
}

const Value* Context::find(const std::string& key) const {
  if (auto it = outputs_.find(key); it != outputs_.end()) return &it->second;
  if (auto it = inputs_.find(key); it != inputs_.end()) return &it->second;
  return nullptr;
}

const Value& Context::lookup(const std::string& key) const {
  if (const Value* v = find(key)) return *v;
  throw std::out_of_range("context has no value \"" + key + "\" (group " + group_id_ + ")");
}

const Value& Context::lookup_typed(KeySpec key) const {
  const Value& v = lookup(std::string(key.name));
  if (type_of(v) != key.type) {
    throw std::out_of_range("context value \"" + std::string(key.name) + "\" is a " + to_string(type_of(v)) +
                            ", not a " + to_string(key.type) + " (group " + group_id_ + ")");
  }
  return v;
}

Context Context::with_record(state::DomainRecord record) const {
  Context c = *this;
  c.records_.push_back(std::make_shared<const state::DomainRecord>(std::move(record)));
  return c;
}

Context Context::without_records() const {
  Context c = *this;
  c.records_.clear();
  return c;
}

Context Context::with_state(const StateView* view) const {
  Context c = *this;
  c.state_ = view;
  return c;
}

bool Context::has(const std::string& key) const { return find(key) != nullptr; }

template <typename T>
static const T& typed(const Value& v, const std::string& key) {
  if (const T* p = std::get_if<T>(&v)) return *p;
  throw std::out_of_range("context value \"" + key + "\" has another type");
}

std::string Context::get_string(const std::string& key) const {
  return typed<std::string>(lookup(key), key);
}
std::int64_t Context::get_int(const std::string& key) const {
  return typed<std::int64_t>(lookup(key), key);
}
double Context::get_double(const std::string& key) const {
  const Value& v = lookup(key);
  if (const auto* i = std::get_if<std::int64_t>(&v)) return static_cast<double>(*i);
  return typed<double>(v, key);
}
bool Context::get_bool(const std::string& key) const { return typed<bool>(lookup(key), key); }
std::vector<std::string> Context::get_strings(const std::string& key) const {
  return typed<std::vector<std::string>>(lookup(key), key);
}

Context Context::with_output(const std::string& key, Value value) const {
  Context c = *this;
  c.outputs_[key] = std::move(value);
  return c;
}

Context Context::with_outputs(const std::map<std::string, Value>& values) const {
  Context c = *this;
  for (const auto& [k, v] : values) c.outputs_[k] = v;
  return c;
}

Context Context::with_io(std::uint64_t bytes_read, std::uint64_t bytes_written) const {
  Context c = *this;
  c.io_.bytes_read += bytes_read;
  c.io_.bytes_written += bytes_written;
  return c;
}

Context Context::with_scratch_dir(std::filesystem::path dir) const {
  Context c = *this;
  c.scratch_dir_ = std::move(dir);
  return c;
}

void Context::throw_if_interrupted() const {
  if (interrupts_) interrupts_->throw_if_interrupted();
}

nlohmann::json Context::to_json() const {
  nlohmann::json in = nlohmann::json::object(), out = nlohmann::json::object();
  for (const auto& [k, v] : inputs_) in[k] = pipeline::to_json(v);
  for (const auto& [k, v] : outputs_) out[k] = pipeline::to_json(v);
  return {{"group_id", group_id_},
          {"inputs", in},
          {"outputs", out},
          {"bytes_read", io_.bytes_read},
          {"bytes_written", io_.bytes_written}};
}

}  // namespace contimg::pipeline
