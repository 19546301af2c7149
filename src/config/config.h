#pragma once
// One configuration system: built-in defaults < TOML file < CONTIMG_* environment
// < command-line flags. Every key is declared once in the schema (config.cc)
// with its type, default and documentation; docs/configuration.md lists them and
// a test checks the two agree. A Config is immutable once loaded and remembers
// where each value came from (`contimg info` shows it).
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace contimg::config {

enum class Type { kString, kInt, kDouble, kBool, kPath };

// The values a key accepts beyond its type: a numeric interval, or a list of
// words for enum-like strings. Declared with the key in the schema and checked
// when any source sets it, so a bad value fails at start-up, not mid-run.
struct Allowed {
  std::optional<double> min, max;
  bool min_exclusive = false;        // (min, ...] instead of [min, ...]
  std::vector<std::string> choices;  // exact words; empty = any text

  bool unrestricted() const { return !min && !max && choices.empty(); }
  bool admits(double v) const;
  bool admits(const std::string& word) const;
  // "[0, 1]", "(0, 180]", ">= 1", "> 0", "skip, fail"; "any" when unrestricted
  // (the form docs/configuration.md shows in its "allowed" column).
  std::string text() const;
};

Allowed at_least(double min);
Allowed above(double min);  // exclusive
Allowed between(double min, double max);
Allowed above_up_to(double min, double max);  // (min, max]
Allowed one_of(std::vector<std::string> words);

struct KeyDef {
  KeyDef(std::string key_, Type type_, std::string default_value_, std::string doc_,
         Allowed allowed_ = {})
      : key(std::move(key_)), type(type_), default_value(std::move(default_value_)),
        doc(std::move(doc_)), allowed(std::move(allowed_)) {}
  std::string key;            // "section.name"
  Type type;
  std::string default_value;  // as text, parsed like any other source
  std::string doc;
  Allowed allowed;
};

// Every key the program knows, in documentation order.
const std::vector<KeyDef>& schema();

// CONTIMG_ + upper-cased key with '.' -> '_' (paths.stage_dir -> CONTIMG_PATHS_STAGE_DIR).
std::string env_name(const std::string& key);

enum class Source { kDefault, kFile, kEnvironment, kFlag };
const char* to_string(Source s);

struct Entry {
  std::string value;   // canonical text form
  Source source = Source::kDefault;
  std::string origin;  // file path, variable name or flag that set it
};

struct Override {
  std::string key;
  std::string value;
  std::string flag;  // e.g. "--log-level" or "--set"
};

struct LoadOptions {
  std::optional<std::filesystem::path> file;        // --config; else $CONTIMG_CONFIG
  std::map<std::string, std::string> environment;   // usually from_process_environment()
  std::vector<Override> overrides;                  // flags, applied last in order
};

std::map<std::string, std::string> from_process_environment();

class Config {
 public:
  // Throws ConfigError naming the source (file and key, variable, or flag).
  static Config load(const LoadOptions& options);
  static Config defaults();

  std::string get_string(const std::string& key) const;
  std::int64_t get_int(const std::string& key) const;
  double get_double(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  std::filesystem::path get_path(const std::string& key) const;

  const Entry& entry(const std::string& key) const;
  const std::map<std::string, Entry>& entries() const { return entries_; }
  const std::optional<std::filesystem::path>& file() const { return file_; }

  // {"key": {"value": <typed>, "source": "...", "origin": "..."}, ...}
  nlohmann::json to_json() const;

  // Returns a copy with one more flag-level override (for derived settings such
  // as a command's --out directory).
  Config with_override(const Override& o) const;

 private:
  void set(const std::string& key, const std::string& raw, Source source,
           const std::string& origin);
  void check_relations() const;  // ConfigError when keys contradict each other

  std::map<std::string, Entry> entries_;
  std::optional<std::filesystem::path> file_;
};

}  // namespace contimg::config
