// Export/import: a stopped sandbox moves to another state dir (another
// runsc root) and a driver there resumes it with its memory.
#include <archive.h>
#include <archive_entry.h>
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "lifecycle/state_layout.h"
#include "live_support.h"

using namespace osgv::live;
namespace fs = std::filesystem;

namespace {

// A counter that lives only in a shell variable (as in checkpoint_test.cc):
// after a cold boot it would start again from 1.
const std::vector<std::string> kCounter = {
    "/bin/sh", "-c",
    "echo before-stop > /root/marker; i=0; while true; do i=$((i+1)); echo $i > /root/counter.new; mv /root/counter.new /root/counter; "
    "sleep 0.1; done"};

CommandOutput Export(const std::string& state, const std::string& sandbox, const std::string& file) {
  return RunCommand({OSGV_DRIVER_BINARY, "export", "--state-dir", state, sandbox, file});
}

// Import checks the archived request against the importing driver's config,
// images.oci_roots included: the same roots DriverProcess serves with.
CommandOutput Import(const std::string& state, const std::string& file) {
  const std::string config = file + ".import.yaml";
  std::ofstream(config) << "images:\n  oci_roots: [\"/tmp\"]\n";
  return RunCommand({OSGV_DRIVER_BINARY, "import", "--state-dir", state, "--config", config, file});
}

// Copies the archive, flipping one byte in the middle of checkpoint/<name>.
void TamperCheckpoint(const std::string& from, const std::string& to, const std::string& name) {
  archive* in = archive_read_new();
  archive_read_support_filter_all(in);
  archive_read_support_format_tar(in);
  REQUIRE(archive_read_open_filename(in, from.c_str(), 1 << 16) == ARCHIVE_OK);
  archive* out = archive_write_new();
  archive_write_set_format_pax_restricted(out);
  archive_write_add_filter_zstd(out);
  REQUIRE(archive_write_open_filename(out, to.c_str()) == ARCHIVE_OK);
  archive_entry* entry = nullptr;
  bool tampered = false;
  while (archive_read_next_header(in, &entry) == ARCHIVE_OK) {
    std::string data;
    std::vector<char> buf(1 << 20);
    la_ssize_t n;
    while ((n = archive_read_data(in, buf.data(), buf.size())) > 0) data.append(buf.data(), n);
    if (std::string(archive_entry_pathname(entry)) == "checkpoint/" + name && !data.empty()) {
      data[data.size() / 2] ^= 0x5a;
      tampered = true;
    }
    if (archive_entry_filetype(entry) == AE_IFREG && archive_entry_hardlink(entry) == nullptr) {
      archive_entry_sparse_clear(entry);
      archive_entry_set_size(entry, static_cast<la_int64_t>(data.size()));
    }
    REQUIRE(archive_write_header(out, entry) == ARCHIVE_OK);
    if (!data.empty()) archive_write_data(out, data.data(), data.size());
  }
  archive_write_close(out);
  archive_write_free(out);
  archive_read_free(in);
  REQUIRE(tampered);
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("a stopped sandbox exported from one state dir resumes with its memory in another",
          "[live][migration]") {
  std::string work = MakeTempDir("migration");
  std::string state_a = work + "/a";
  std::string state_b = work + "/b";  // created by import
  std::string file = work + "/mover.tar.zst";
  auto sb = NewSandbox("mover", kCounter);
  int at_stop = 0;
  std::string rid_a;
  {
    Driver a(state_a);
    REQUIRE(Create(a.stub.get(), sb).ok());
    WaitReady(a.stub.get(), sb.id());

    // A running sandbox cannot be exported.
    auto refused = Export(state_a, sb.id(), work + "/running.tar.zst");
    INFO(refused.out);
    CHECK(refused.exit_code != 0);
    CHECK(Contains(refused.out, "FAILED_PRECONDITION"));
    CHECK(Contains(refused.out, "running"));
    CHECK(Contains(refused.out, "stop it first"));
    CHECK_FALSE(fs::exists(work + "/running.tar.zst"));
    CHECK_FALSE(fs::exists(work + "/running.tar.zst.tmp"));

    REQUIRE(WaitForSandbox(a.stub.get(), sb.id(), [&](const pb::DriverSandbox&) {
      auto r = Exec(a.process, "mover", {"cat", "/root/counter"});
      return r.exit_code == 0 && std::stoi(r.out) >= 15;
    }).has_value());
    auto st = Stop(a.stub.get(), sb.id());
    INFO(st.error_message());
    REQUIRE(st.ok());
    auto s = WaitSuspended(a.stub.get(), sb.id());
    REQUIRE(SuspendedCondition(s)->reason() == "Checkpointed");
    rid_a = s.status().instance_id();
    std::ifstream f(osgv::StateLayout{state_a}.upper(rid_a) + "/root/counter");
    f >> at_stop;
    REQUIRE(at_stop >= 15);

    // Export only reads: it works while the driver serves the state dir.
    auto served = Export(state_a, "mover", work + "/while-serving.tar.zst");
    INFO(served.out);
    CHECK(served.exit_code == 0);
    // Import writes: refused while a driver holds the state dir.
    if (served.exit_code == 0) {
      auto locked = Import(state_a, work + "/while-serving.tar.zst");
      INFO(locked.out);
      CHECK(locked.exit_code != 0);
      CHECK(Contains(locked.out, "stop the driver on " + state_a));
    }
    a.process.Kill(SIGTERM);
  }

  // Node A is "lost": export its stopped sandbox.
  auto exported = Export(state_a, sb.id(), file);
  INFO(exported.out);
  REQUIRE(exported.exit_code == 0);
  CHECK(Contains(exported.out, "with its memory"));

  // A damaged checkpoint is refused and leaves B as it was.
  std::string tampered = work + "/tampered.tar.zst";
  TamperCheckpoint(file, tampered, "checkpoint.img");
  auto bad = Import(state_b, tampered);
  INFO(bad.out);
  CHECK(bad.exit_code != 0);
  CHECK(Contains(bad.out, "DATA_LOSS"));
  CHECK(Contains(bad.out, "checkpoint.img"));
  CHECK(fs::is_empty(state_b + "/sandboxes"));
  CHECK((!fs::exists(state_b + "/checkpoints") || fs::is_empty(state_b + "/checkpoints")));

  auto imported = Import(state_b, file);
  INFO(imported.out);
  REQUIRE(imported.exit_code == 0);
  auto twice = Import(state_b, file);
  INFO(twice.out);
  CHECK(twice.exit_code != 0);
  CHECK(Contains(twice.out, "ALREADY_EXISTS"));

  {
    Driver b(state_b);
    auto s = WaitSuspended(b.stub.get(), sb.id());
    CHECK(s.id() == sb.id());
    CHECK(s.name() == "mover");
    CHECK(s.workspace() == sb.workspace());
    std::string rid_b = s.status().instance_id();
    CHECK(rid_b != rid_a);
    {
      grpc::ClientContext ctx;
      pb::ListSandboxesRequest req;
      pb::ListSandboxesResponse resp;
      REQUIRE(b.stub->ListSandboxes(&ctx, req, &resp).ok());
      CHECK(resp.sandboxes_size() == 1);  // the failed import left nothing
    }
    // The archived bundle config is never used: Start writes the bundle
    // from the re-validated request, as create does.
    const std::string config_json = osgv::StateLayout{state_b}.bundle_config(rid_b);
    CHECK_FALSE(fs::exists(config_json));

    auto st = Start(b.stub.get(), sb.id());
    INFO(st.error_message());
    REQUIRE(st.ok());
    auto spec = nlohmann::json::parse(std::ifstream(config_json));
    CHECK(spec["linux"]["cgroupsPath"] == "/openshell-gvisor/" + rid_b);
    auto ready = WaitReady(b.stub.get(), sb.id());
    INFO(ReadyCondition(ready)->message());
    CHECK(Contains(ReadyCondition(ready)->message(), "restored"));
    auto r = Exec(b.process, "mover", {"cat", "/root/counter"});
    REQUIRE(r.exit_code == 0);
    int after = std::stoi(r.out);
    INFO("at stop " << at_stop << ", after start in B " << after);
    CHECK(after >= at_stop);  // a cold boot would have started again from 1
    CHECK(Exec(b.process, "mover", {"cat", "/root/marker"}).out == "before-stop\n");
    bool deleted = false;
    REQUIRE(Delete(b.stub.get(), sb.id(), &deleted).ok());
    CHECK(deleted);
    CHECK(RunscList(state_b).empty());
  }
  {
    // The original stays in A (stopped) until someone deletes it there.
    Driver a(state_a);
    WaitSuspended(a.stub.get(), sb.id());
    REQUIRE(Delete(a.stub.get(), sb.id(), nullptr).ok());
  }
  fs::remove_all(work);
}
