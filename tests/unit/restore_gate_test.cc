// RestoreGate: what runsc can read from a gated image, and when. The
// "runsc" here is ReadLikeRunscRestore; the verdict is held back through
// an injected verifier where the order is what is tested.
#include "lifecycle/checkpoint/restore_gate.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <string>
#include <thread>

#include "lifecycle/checkpoint/checkpoint_image.h"
#include "unit/fake_restore_reader.h"
#include "unit/manager_fakes.h"
#include "unit/temp_dir.h"

namespace osgv {
namespace {

namespace fs = std::filesystem;
using testing::ReadLikeRunscRestore;
using testing::ReadUpTo;

std::string RandomBytes(size_t size, unsigned seed) {
  std::mt19937 rng(seed);
  std::string data(size, '\0');
  for (auto& c : data) c = static_cast<char>(rng());
  return data;
}

// A sealed uncompressed image whose pages_meta.img is larger than a pipe's
// buffer, so feeding it has to wait for its reader.
struct PagedImage {
  testing::TempDir tmp;
  CheckpointImage image;
  std::string meta = RandomBytes(200 * 1024, 7);

  PagedImage() {
    std::string staging = tmp.Dir("tmp-image");
    std::ofstream(staging + "/checkpoint.img", std::ios::binary) << "kernel state";
    std::ofstream(staging + "/pages_meta.img", std::ios::binary) << meta;
    std::ofstream(staging + "/pages.img", std::ios::binary) << RandomBytes(1 << 20, 8);
    CheckpointImage i;
    i.compression = "none";
    auto sealed = SealCheckpoint(staging, tmp / "image", i);
    REQUIRE(sealed.ok());
    image = *sealed;
  }
  std::string view() const { return tmp / "view"; }
};

TEST_CASE("RestoreGate applies to uncompressed images only", "[checkpoint][gate]") {
  PagedImage p;
  CHECK(RestoreGate::Applies(p.image));
  CheckpointImage flate = p.image;
  flate.files.erase("pages.img");
  flate.files.erase("pages_meta.img");
  CHECK_FALSE(RestoreGate::Applies(flate));
}

TEST_CASE("RestoreGate: runsc reads the whole image once it matches", "[checkpoint][gate]") {
  PagedImage p;
  auto gate = RestoreGate::Open(p.image, p.view());
  REQUIRE(gate.ok());
  const std::string view = (*gate)->dir();
  CHECK(view == p.view());
  CHECK(fs::read_symlink(view + "/pages.img") == p.image.dir + "/pages.img");
  CHECK(fs::read_symlink(view + "/checkpoint.img") == p.image.dir + "/checkpoint.img");
  CHECK(fs::is_fifo(view + "/pages_meta.img"));

  std::string got;
  CHECK(ReadLikeRunscRestore(view, p.meta.size(), &got).ok());
  CHECK(got == p.meta);
  CHECK((*gate)->Wait().ok());
  CHECK((*gate)->released());
  gate->reset();
  CHECK_FALSE(fs::exists(view));
  CHECK(VerifyCheckpoint(p.image).ok());  // the image itself is untouched
}

TEST_CASE("RestoreGate: the last byte waits for the verdict", "[checkpoint][gate]") {
  PagedImage p;
  std::promise<absl::Status> verdict;
  auto held = verdict.get_future().share();
  auto gate = RestoreGate::Open(p.image, p.view(),
                                [held](const CheckpointImage&) { return held.get(); });
  REQUIRE(gate.ok());
  int fd = open((p.view() + "/pages_meta.img").c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  // Everything but the last byte flows while the verification runs...
  CHECK(ReadUpTo(fd, p.meta.size() - 1) == p.meta.substr(0, p.meta.size() - 1));
  // ...and nothing more is there, nor the end of the stream, before it ends.
  pollfd pfd{fd, POLLIN, 0};
  CHECK(poll(&pfd, 1, 0) == 0);
  CHECK_FALSE((*gate)->released());

  SECTION("a match releases it") {
    verdict.set_value(absl::OkStatus());
    CHECK(ReadUpTo(fd, 1) == p.meta.substr(p.meta.size() - 1));
    CHECK((*gate)->Wait().ok());
    CHECK((*gate)->released());
  }
  SECTION("a mismatch ends the stream without it") {
    verdict.set_value(absl::DataLossError("checkpoint file pages.img does not match"));
    CHECK(ReadUpTo(fd, 1).empty());  // EOF
    CHECK(absl::IsDataLoss((*gate)->Wait()));
    CHECK_FALSE((*gate)->released());
    // A runsc that had not opened the files yet fails to. pages.img stays:
    // without it runsc would read checkpoint.img as a single-file image.
    CHECK_FALSE(fs::exists(p.view() + "/checkpoint.img"));
    CHECK_FALSE(fs::exists(p.view() + "/pages_meta.img"));
    CHECK(fs::exists(p.view() + "/pages.img"));
  }
  close(fd);
}

TEST_CASE("RestoreGate: a corrupted pages file is never read to the end", "[checkpoint][gate]") {
  PagedImage p;
  {
    std::fstream f(p.image.dir + "/pages.img", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096);
    f.put('\x5a');
  }
  auto gate = RestoreGate::Open(p.image, p.view());
  REQUIRE(gate.ok());
  std::string got;
  CHECK(absl::IsDataLoss(ReadLikeRunscRestore(p.view(), p.meta.size(), &got)));
  CHECK(got.size() < p.meta.size());
  absl::Status verdict = (*gate)->Wait();
  CHECK(absl::IsDataLoss(verdict));
  CHECK_THAT(std::string(verdict.message()), Catch::Contains("pages.img"));
}

TEST_CASE("RestoreGate: a corrupted or missing metadata file is refused before it opens",
          "[checkpoint][gate]") {
  PagedImage p;
  SECTION("changed") {
    std::ofstream(p.image.dir + "/pages_meta.img", std::ios::binary) << "other metadata";
  }
  SECTION("missing") { fs::remove(p.image.dir + "/pages_meta.img"); }
  auto gate = RestoreGate::Open(p.image, p.view());
  CHECK(absl::IsDataLoss(gate.status()));
  CHECK_THAT(std::string(gate.status().message()), Catch::Contains("pages_meta.img"));
  CHECK_FALSE(fs::exists(p.view()));
}

TEST_CASE("RestoreGate: an abort before runsc opened the files leaves it nothing to open",
          "[checkpoint][gate]") {
  PagedImage p;
  std::promise<absl::Status> verdict;
  auto held = verdict.get_future().share();
  auto gate = RestoreGate::Open(p.image, p.view(),
                                [held](const CheckpointImage&) { return held.get(); });
  REQUIRE(gate.ok());
  (*gate)->Abort();
  CHECK(testing::Eventually([&] { return !fs::exists(p.view() + "/pages_meta.img"); }));
  CHECK(absl::IsNotFound(ReadLikeRunscRestore(p.view(), p.meta.size())));
  verdict.set_value(absl::OkStatus());
  CHECK((*gate)->Wait().ok());  // the verdict is still learnt
  CHECK_FALSE((*gate)->released());
}

}  // namespace
}  // namespace osgv

namespace osgv {
namespace {

TEST_CASE("RestoreGate::Abandon wakes a runsc left waiting by a dead driver",
          "[checkpoint][gate]") {
  PagedImage p;
  std::string view;
  {
    // A driver that died mid-gate: its FIFO end closes with it.
    auto gate = RestoreGate::Open(p.image, p.view(),
                                  [](const CheckpointImage&) { return absl::OkStatus(); });
    REQUIRE(gate.ok());
    view = (*gate)->dir();
  }
  // The gate's own end has gone: rebuild the view as a crash leaves it.
  fs::create_directories(view);
  REQUIRE(mkfifo((view + "/pages_meta.img").c_str(), 0600) == 0);
  fs::create_symlink(p.image.dir + "/pages.img", view + "/pages.img");
  // "runsc" opens the FIFO and waits there for a writer.
  auto runsc = std::async(std::launch::async, [&] {
    int fd = open((view + "/pages_meta.img").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::string("open failed");
    std::string got = ReadUpTo(fd, p.meta.size());
    close(fd);
    return got;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // most likely in open() by now
  // Abandon finds it in open() (the stream ends at once) or, if it has not
  // got there yet, leaves it nothing to open.
  RestoreGate::Abandon(view);
  std::string got = runsc.get();
  CHECK((got.empty() || got == "open failed"));
  RestoreGate::Abandon(view);
  CHECK_FALSE(fs::exists(view));
}

}  // namespace
}  // namespace osgv
