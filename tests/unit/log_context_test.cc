#include <catch2/catch.hpp>
#include <thread>

#include "lifecycle/log_context.h"

using namespace osgv;

TEST_CASE("the trace id is taken from a well-formed traceparent only", "[log]") {
  CHECK(TraceIdFromTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") ==
        "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(TraceIdFromTraceparent("").empty());
  CHECK(TraceIdFromTraceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01").empty());
  CHECK(TraceIdFromTraceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01").empty());
  CHECK(TraceIdFromTraceparent("00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").empty());
  CHECK(TraceIdFromTraceparent("00-4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01").empty());
}

TEST_CASE("a scoped trace id applies to its thread until the scope ends", "[log]") {
  CHECK(CurrentTraceId().empty());
  {
    ScopedTraceId outer("aaaa");
    CHECK(CurrentTraceId() == "aaaa");
    {
      ScopedTraceId inner("bbbb");
      CHECK(CurrentTraceId() == "bbbb");
    }
    CHECK(CurrentTraceId() == "aaaa");
    std::string seen = "unset";
    std::thread([&] { seen = CurrentTraceId(); }).join();
    CHECK(seen.empty());  // other threads are not affected
  }
  CHECK(CurrentTraceId().empty());
}
