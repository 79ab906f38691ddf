#include "cli/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "lifecycle/log_context.h"
#include "lifecycle/sandbox_status.h"

namespace osgv {
namespace {

// One JSON object per line: time, level, msg. nlohmann does the escaping,
// so a message can never break the line format.
class JsonStderrSink : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    auto unix_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count();
    nlohmann::json j = {
        {"time", Rfc3339(unix_ms)},
        {"level", std::string(spdlog::level::to_string_view(msg.level).data(),
                              spdlog::level::to_string_view(msg.level).size())},
        {"msg", std::string(msg.payload.data(), msg.payload.size())},
    };
    if (!CurrentTraceId().empty()) j["trace_id"] = CurrentTraceId();
    std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    std::fwrite(line.data(), 1, line.size(), stderr);
  }
  void flush_() override { std::fflush(stderr); }
};

// "%*" in the text pattern: " trace=<id>" while serving a traced call.
class TraceIdFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm&, spdlog::memory_buf_t& dest) override {
    const std::string& id = CurrentTraceId();
    if (id.empty()) return;
    static constexpr char kPrefix[] = " trace=";
    dest.append(kPrefix, kPrefix + sizeof kPrefix - 1);
    dest.append(id.data(), id.data() + id.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<TraceIdFlag>();
  }
};

}  // namespace

absl::Status SetupLogging(const LogConfig& config) {
  auto level = spdlog::level::from_str(config.level);
  if (level == spdlog::level::off && config.level != "off") {
    return absl::InvalidArgumentError(absl::StrCat("log.level: unknown level '", config.level, "'"));
  }
  std::shared_ptr<spdlog::logger> logger;
  if (config.format == "json") {
    logger = std::make_shared<spdlog::logger>("driver", std::make_shared<JsonStderrSink>());
  } else {
    logger = std::make_shared<spdlog::logger>("driver",
                                              std::make_shared<spdlog::sinks::stderr_sink_mt>());
    auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    formatter->add_flag<TraceIdFlag>('*').set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%-5l%$ %v%*");
    logger->set_formatter(std::move(formatter));
  }
  logger->set_level(level);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
  return absl::OkStatus();
}

}  // namespace osgv
