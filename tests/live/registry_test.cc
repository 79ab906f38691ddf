// Registry images end to end: a local docker-registry (Debian's
// distribution server) holds the busybox test image; the driver pulls it
// through skopeo, verifies and caches it, and later creates need neither
// the registry nor another pull. Errors name the image and the cause.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <set>
#include <nlohmann/json.hpp>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "live_support.h"

using namespace osgv::live;

namespace {

bool PortAnswers(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

// docker-registry on 127.0.0.1:<port> with its storage in a temp dir,
// holding the busybox test image as busybox:1.
class LocalRegistry {
 public:
  // With `user`, the registry wants basic auth (htpasswd, bcrypt) for
  // user/`password`.
  explicit LocalRegistry(const std::string& user = "", const std::string& password = "")
      : dir_(MakeTempDir("registry")), port_(static_cast<uint16_t>(30000 + getpid() % 10000)) {
    std::ofstream config(dir_ + "/config.yml");
    config << "version: 0.1\n"
              "log:\n  level: info\n"
              "storage:\n  filesystem:\n    rootdirectory: " << dir_ << "/data\n"
              "http:\n  addr: 127.0.0.1:" << port_ << "\n";
    if (!user.empty()) {
      auto hash = RunCommand({"python3", "-W", "ignore", "-c",
                              "import crypt,sys; print(crypt.crypt(sys.argv[1], "
                              "crypt.mksalt(crypt.METHOD_BLOWFISH)))",
                              password});
      std::ofstream(dir_ + "/htpasswd") << user << ":" << hash.out;
      config << "auth:\n  htpasswd:\n    realm: osgv-test\n    path: " << dir_ << "/htpasswd\n";
      push_creds_ = user + ":" + password;
    }
    config.close();
    Start();
  }
  ~LocalRegistry() { Stop(); }

  void Start() {
    pid_ = fork();
    if (pid_ == 0) {
      // Its access log is noise here; it stays in the registry's dir.
      int log = open((dir_ + "/registry.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      dup2(log, 1);
      dup2(log, 2);
      execl("/usr/bin/docker-registry", "docker-registry", "serve", (dir_ + "/config.yml").c_str(),
            nullptr);
      _exit(127);
    }
    for (int i = 0; i < 100 && !PortAnswers(port_); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  bool up() const { return PortAnswers(port_); }
  std::string host() const { return absl::StrCat("127.0.0.1:", port_); }
  std::string Push(const std::string& name) const {
    std::vector<std::string> argv = {"skopeo", "copy", "--quiet", "--dest-tls-verify=false"};
    if (!push_creds_.empty()) argv.push_back("--dest-creds=" + push_creds_);
    argv.push_back(BusyboxImage());
    argv.push_back(absl::StrCat("docker://", host(), "/", name));
    auto r = RunCommand(argv);
    return r.exit_code == 0 ? "" : r.out;
  }
  // "sha256:..." of the manifest `name` points at.
  std::string Digest(const std::string& name) const {
    std::vector<std::string> argv = {"skopeo", "inspect", "--tls-verify=false",
                                     "--format", "{{.Digest}}"};
    if (!push_creds_.empty()) argv.push_back("--creds=" + push_creds_);
    argv.push_back(absl::StrCat("docker://", host(), "/", name));
    return std::string(absl::StripAsciiWhitespace(RunCommand(argv).out));
  }
  // The access log: one line per request.
  std::string Log() const {
    std::ifstream f(dir_ + "/registry.log");
    return std::string((std::istreambuf_iterator<char>(f)), {});
  }
  // The blob files of the registry's storage.
  std::vector<std::string> BlobFiles() const {
    std::vector<std::string> out;
    for (const auto& f : std::filesystem::recursive_directory_iterator(dir_ + "/data")) {
      if (f.is_regular_file() && f.path().filename() == "data" &&
          f.path().string().find("/blobs/sha256/") != std::string::npos) {
        out.push_back(f.path().string());
      }
    }
    return out;
  }
  const std::string& dir() const { return dir_; }

 private:
  std::string push_creds_;
  std::string dir_;
  uint16_t port_;
  pid_t pid_ = -1;
};

std::string RegistryYaml(const LocalRegistry& registry) {
  return absl::StrCat("images:\n  insecure_registries: [\"", registry.host(), "\"]\n");
}

pb::DriverSandbox FromImage(const std::string& name, const std::string& image) {
  auto s = NewSandbox(name, {"sleep", "1000000"});
  s.mutable_spec()->mutable_template_()->set_image(image);
  return s;
}

// Blob downloads in the registry's access log: every one, and how many
// distinct blobs they were.
std::pair<int, int> BlobGets(const std::string& log) {
  int gets = 0;
  std::set<std::string> blobs;
  const std::string marker = "\"GET /v2/busybox/blobs/";
  for (size_t at = log.find(marker); at != std::string::npos; at = log.find(marker, at + 1)) {
    ++gets;
    blobs.insert(log.substr(at, log.find(' ', at + marker.size()) - at));
  }
  return {gets, static_cast<int>(blobs.size())};
}

int CountOf(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("a registry image is pulled once - later creates need no registry", "[live][images]") {
  LocalRegistry registry;
  REQUIRE(registry.up());
  REQUIRE(registry.Push("busybox:1") == "");
  Driver d("", RegistryYaml(registry));
  const std::string image = registry.host() + "/busybox:1";

  // Two creates at once share one pull (single flight).
  auto a = FromImage("reg-a", image);
  auto b = FromImage("reg-b", image);
  REQUIRE(Create(d.stub.get(), a).ok());
  REQUIRE(Create(d.stub.get(), b).ok());
  WaitReady(d.stub.get(), a.id());
  WaitReady(d.stub.get(), b.id());
  CHECK(Exec(d.process, "reg-a", {"cat", "/etc/image-marker"}).out.find("from-the-busybox-image") != std::string::npos);
  CHECK(CountOf(d.process.Log(), "/busybox:1: pulled") == 1);
  // Pull progress, from the blobs arriving (also sent as PullingLayer events).
  CHECK(d.process.Log().find(absl::StrCat("pulling ", image, ": 1/1 layers")) != std::string::npos);
  // The registry's side: each blob was downloaded once.
  auto [gets, blobs] = BlobGets(registry.Log());
  CHECK(gets > 0);
  CHECK(gets == blobs);

  // Cached: with the registry gone, a third create still works, no pull.
  registry.Stop();
  REQUIRE_FALSE(registry.up());
  auto c = FromImage("reg-c", image);
  REQUIRE(Create(d.stub.get(), c).ok());
  WaitReady(d.stub.get(), c.id());
  CHECK(CountOf(d.process.Log(), "/busybox:1: pulled") == 1);
  CHECK(BlobGets(registry.Log()).first == gets);

  // The operator's view: one image, used by three sandboxes; gc keeps it.
  auto list = RunCommand({OSGV_DRIVER_BINARY, "images", "list", "--json", "--state-dir",
                          d.process.state_dir()});
  INFO(list.out);
  REQUIRE(list.exit_code == 0);
  auto images = nlohmann::json::parse(list.out, nullptr, false);
  REQUIRE(images.is_array());
  REQUIRE(images.size() == 1);
  CHECK(images[0].value("used_by", 0) == 3);
  auto gc = RunCommand({OSGV_DRIVER_BINARY, "images", "gc", "--grace", "1ms", "--state-dir",
                        d.process.state_dir()});
  INFO(gc.out);
  CHECK(gc.exit_code == 0);
  CHECK(gc.out.find("0 image(s)") != std::string::npos);

  for (const auto* s : {&a, &b, &c}) REQUIRE(Delete(d.stub.get(), s->id(), nullptr).ok());
  gc = RunCommand({OSGV_DRIVER_BINARY, "images", "gc", "--grace", "1ms", "--state-dir",
                   d.process.state_dir()});
  INFO(gc.out);
  CHECK(gc.exit_code == 0);
  CHECK(gc.out.find("1 image(s)") != std::string::npos);
}

TEST_CASE("an unknown tag or an unreachable registry is ImagePullFailed naming the image",
          "[live][images]") {
  LocalRegistry registry;
  REQUIRE(registry.Push("busybox:1") == "");
  Driver d("", RegistryYaml(registry));
  auto check_failure = [&](const pb::DriverSandbox& s, const std::string& cause) {
    REQUIRE(Create(d.stub.get(), s).ok());
    auto failed = WaitForReadyReason(d.stub.get(), s.id(), "ImagePullFailed");
    REQUIRE(failed.has_value());
    std::string message = ReadyCondition(*failed)->message();
    INFO(message);
    CHECK(message.find(s.spec().template_().image()) != std::string::npos);
    CHECK(message.find(cause) != std::string::npos);
    REQUIRE(Delete(d.stub.get(), s.id(), nullptr).ok());
  };
  check_failure(FromImage("no-tag", registry.host() + "/busybox:nope"), "no such repository or tag");
  registry.Stop();
  check_failure(FromImage("no-registry", registry.host() + "/busybox:2"), "unreachable");
}

TEST_CASE("a registry image by digest and through basic auth - wrong credentials fail",
          "[live][images]") {
  LocalRegistry registry("osgv", "right-password");
  REQUIRE(registry.Push("busybox:1") == "");
  const std::string digest = registry.Digest("busybox:1");
  REQUIRE(digest.rfind("sha256:", 0) == 0);
  std::string auth = MakeTempDir("auth") + "/auth.json";
  auto write_auth = [&](const std::string& password) {
    auto b64 = RunCommand({"base64", "-w0"}, "osgv:" + password).out;
    std::ofstream(auth, std::ios::trunc)
        << "{\"auths\": {\"" << registry.host() << "\": {\"auth\": \"" << b64 << "\"}}}\n";
  };
  write_auth("wrong-password");
  Driver d("", RegistryYaml(registry) + "  auth_file: " + auth + "\n");

  auto denied = FromImage("denied", registry.host() + "/busybox:1");
  REQUIRE(Create(d.stub.get(), denied).ok());
  auto failed = WaitForReadyReason(d.stub.get(), denied.id(), "ImagePullFailed");
  REQUIRE(failed.has_value());
  INFO(ReadyCondition(*failed)->message());
  CHECK(ReadyCondition(*failed)->message().find("credentials") != std::string::npos);
  CHECK(ReadyCondition(*failed)->message().find("wrong-password") == std::string::npos);

  write_auth("right-password");  // skopeo reads the file on every pull
  auto by_digest = FromImage("by-digest", registry.host() + "/busybox@" + digest);
  REQUIRE(Create(d.stub.get(), by_digest).ok());
  WaitReady(d.stub.get(), by_digest.id());
  CHECK(Exec(d.process, "by-digest", {"cat", "/etc/image-marker"}).out == "from-the-busybox-image\n");
  REQUIRE(Delete(d.stub.get(), denied.id(), nullptr).ok());
  REQUIRE(Delete(d.stub.get(), by_digest.id(), nullptr).ok());
}

TEST_CASE("a tampered blob in the registry is ImagePullFailed and never cached", "[live][images]") {
  LocalRegistry registry;
  REQUIRE(registry.Push("busybox:1") == "");
  // Flip one byte of the layer (the largest blob; the registry itself
  // checks manifests and would answer 500 rather than serve a bad one).
  std::string layer;
  for (const auto& path : registry.BlobFiles()) {
    if (layer.empty() || std::filesystem::file_size(path) > std::filesystem::file_size(layer)) layer = path;
  }
  REQUIRE(std::filesystem::file_size(layer) > 100000);
  {
    std::fstream f(layer, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(0);
    char c = 0;
    f.get(c);
    f.seekp(0);
    f.put(static_cast<char>(c ^ 0x20));
  }
  Driver d("", RegistryYaml(registry));
  auto s = FromImage("tampered", registry.host() + "/busybox:1");
  REQUIRE(Create(d.stub.get(), s).ok());
  auto failed = WaitForReadyReason(d.stub.get(), s.id(), "ImagePullFailed");
  REQUIRE(failed.has_value());
  INFO(ReadyCondition(*failed)->message());
  CHECK(ReadyCondition(*failed)->message().find(registry.host() + "/busybox:1") != std::string::npos);
  CHECK(ReadyCondition(*failed)->message().find("digest") != std::string::npos);
  auto list = RunCommand({OSGV_DRIVER_BINARY, "images", "list", "--json", "--state-dir",
                          d.process.state_dir()});
  INFO(list.out);
  CHECK(nlohmann::json::parse(list.out, nullptr, false) == nlohmann::json::array());
  REQUIRE(Delete(d.stub.get(), s.id(), nullptr).ok());
}
