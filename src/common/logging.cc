#include "common/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace contimg::logging {
namespace {

// %j: the message payload as a JSON string literal (escaped), for JSON lines.
class JsonPayloadFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const std::string quoted =
        nlohmann::json(std::string(msg.payload.data(), msg.payload.size())).dump();
    dest.append(quoted.data(), quoted.data() + quoted.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonPayloadFlag>();
  }
};

std::unique_ptr<spdlog::formatter> make_formatter(Format format) {
  // Times in UTC, like every time the pipeline records.
  if (format == Format::kJson) {
    auto f = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    f->add_flag<JsonPayloadFlag>('j').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","logger":"%n","msg":%j})");
    return f;
  }
  return std::make_unique<spdlog::pattern_formatter>("%Y-%m-%dT%H:%M:%S.%eZ %^%-5l%$ [%n] %v",
                                                     spdlog::pattern_time_type::utc);
}

}  // namespace

Format parse_format(const std::string& name) {
  if (name == "text") return Format::kText;
  if (name == "json") return Format::kJson;
  throw ConfigError("logging.format must be \"text\" or \"json\", got \"" + name + "\"");
}

void setup(const Options& options) {
  std::vector<spdlog::sink_ptr> sinks;
  sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  if (!options.file.empty()) {
    sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(options.file));
  }
  auto logger = std::make_shared<spdlog::logger>("contimg", sinks.begin(), sinks.end());
  const auto level = spdlog::level::from_str(options.level);
  if (level == spdlog::level::off && options.level != "off") {
    throw ConfigError("logging.level must be one of trace, debug, info, warn, error, off; got \"" +
                      options.level + "\"");
  }
  logger->set_level(level);
  logger->set_formatter(make_formatter(options.format));
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

std::shared_ptr<spdlog::logger> group_logger(const std::string& group_id) {
  return spdlog::default_logger()->clone("group=" + group_id);
}

}  // namespace contimg::logging
