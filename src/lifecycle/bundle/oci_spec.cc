#include "lifecycle/bundle/oci_spec.h"

#include "absl/strings/str_cat.h"

namespace osgv {
namespace {

using nlohmann::json;

constexpr char kDefaultPath[] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// Docker's default capability set: what an ordinary container workload
// expects. gVisor's sentry, not these bits, is the isolation boundary.
const std::vector<std::string>& DefaultCapabilities() {
  static const std::vector<std::string> caps = {
      "CAP_CHOWN",  "CAP_DAC_OVERRIDE",     "CAP_FSETID",   "CAP_FOWNER",
      "CAP_MKNOD",  "CAP_NET_RAW",          "CAP_SETGID",   "CAP_SETUID",
      "CAP_SETFCAP", "CAP_SETPCAP",         "CAP_NET_BIND_SERVICE",
      "CAP_SYS_CHROOT", "CAP_KILL",         "CAP_AUDIT_WRITE"};
  return caps;
}

json Mount(const std::string& dest, const std::string& type, const std::string& source,
           std::vector<std::string> options) {
  return json{{"destination", dest}, {"type", type}, {"source", source}, {"options", options}};
}

json DefaultMounts() {
  return json::array({
      Mount("/proc", "proc", "proc", {}),
      Mount("/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}),
      Mount("/dev/pts", "devpts", "devpts",
            {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}),
      Mount("/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}),
      Mount("/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}),
      Mount("/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}),
  });
}

// "ro" is enforced by gVisor's sentry, so the sandbox cannot write through
// to the host. gVisor makes a missing destination as a synthetic mount point;
// this is not yet verified live for a file below a directory the image
// lacks (e.g. /opt/openshell/bin/openshell-sandbox).
absl::StatusOr<json> ExtraMount(const BindMount& m) {
  if (m.source.empty() || m.source.front() != '/' || m.destination.empty() ||
      m.destination.front() != '/') {
    return absl::InternalError(absl::StrCat("bind mount '", m.source, "' -> '", m.destination,
                                            "': both paths must be absolute"));
  }
  std::vector<std::string> options = {"bind"};
  if (m.read_only) options.push_back("ro");
  return Mount(m.destination, "bind", m.source, options);
}

json Resources(const SpecInputs& in) {
  json r = json::object();
  if (in.memory_limit_bytes > 0) {
    r["memory"] = {{"limit", static_cast<int64_t>(in.memory_limit_bytes)}};
  }
  if (in.cpu_limit_millis > 0) {
    constexpr int64_t kPeriod = 100000;  // 100 ms, the CFS default
    r["cpu"] = {{"period", kPeriod},
                {"quota", static_cast<int64_t>(in.cpu_limit_millis) * kPeriod / 1000}};
  }
  if (in.pids_limit > 0) r["pids"] = {{"limit", static_cast<int64_t>(in.pids_limit)}};
  return r;
}

}  // namespace

std::vector<std::string> MergeEnvironment(const std::vector<std::string>& image_env,
                                          const std::map<std::string, std::string>& template_env,
                                          const std::map<std::string, std::string>& spec_env) {
  std::vector<std::string> out;
  auto set = [&out](const std::string& key, const std::string& value) {
    std::string prefix = key + "=";
    for (auto& kv : out) {
      if (kv.compare(0, prefix.size(), prefix) == 0) {
        kv = prefix + value;
        return;
      }
    }
    out.push_back(prefix + value);
  };
  for (const auto& kv : image_env) {
    auto eq = kv.find('=');
    if (eq == std::string::npos) continue;  // malformed image entry: skip
    set(kv.substr(0, eq), kv.substr(eq + 1));
  }
  for (const auto& [k, v] : template_env) set(k, v);
  for (const auto& [k, v] : spec_env) set(k, v);
  bool has_path = false;
  for (const auto& kv : out) has_path = has_path || kv.rfind("PATH=", 0) == 0;
  if (!has_path) out.insert(out.begin(), kDefaultPath);
  return out;
}

absl::StatusOr<std::vector<std::string>> MainProcessArgs(const SandboxRequest& request,
                                                         const ImageConfig& image) {
  if (!request.spec.command.empty()) return request.spec.command;
  std::vector<std::string> args = image.entrypoint;
  args.insert(args.end(), image.cmd.begin(), image.cmd.end());
  if (args.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "sandbox.spec.command: empty, and image '", request.spec.tmpl.image,
        "' has no Entrypoint or Cmd to run"));
  }
  return args;
}

absl::StatusOr<json> BuildRuntimeSpec(const SpecInputs& in) {
  const SandboxRequest& req = *in.request;

  // Direct mode runs the request's main process as the image's user;
  // supervisor mode runs the supervisor, which starts the main process.
  json user;
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::string cwd;
  const std::vector<std::string>* caps = &DefaultCapabilities();
  if (in.supervisor) {
    const ProcessOverride& p = *in.supervisor;
    if (p.args.empty()) return absl::InternalError("supervisor process: no args");
    user = {{"uid", p.uid}, {"gid", p.gid}};
    args = p.args;
    env = p.env;
    cwd = p.cwd.empty() ? "/" : p.cwd;
    caps = &p.capabilities;
  } else {
    auto main_args = MainProcessArgs(req, *in.image);
    if (!main_args.ok()) return main_args.status();
    args = *std::move(main_args);
    user = {{"uid", in.user.uid}, {"gid", in.user.gid}};
    if (!in.user.additional_gids.empty()) user["additionalGids"] = in.user.additional_gids;
    env = in.env ? *in.env
                 : MergeEnvironment(in.image->env, req.spec.tmpl.environment, req.spec.environment);
    cwd = in.image->working_dir.empty() ? "/" : in.image->working_dir;
  }

  json process = {
      {"terminal", false},
      {"user", user},
      {"args", args},
      {"env", env},
      {"cwd", cwd},
      {"capabilities",
       {{"bounding", *caps}, {"effective", *caps}, {"permitted", *caps}}},
      {"rlimits", json::array({{{"type", "RLIMIT_NOFILE"}, {"hard", 1048576}, {"soft", 1048576}}})},
      // Left off in both modes: the supervisor sets NO_NEW_PRIVS itself
      // (its seccomp prelude) before it starts the workload.
      {"noNewPrivileges", false},
  };

  json mounts = DefaultMounts();
  for (const auto& m : in.extra_mounts) {
    auto mount = ExtraMount(m);
    if (!mount.ok()) return mount.status();
    mounts.push_back(*std::move(mount));
  }

  json annotations = json::object();
  for (const auto& [k, v] : req.spec.tmpl.labels) annotations[k] = v;
  annotations["dev.openshell.sandbox.id"] = req.id;
  annotations["dev.openshell.sandbox.name"] = req.name;
  if (!req.workspace.empty()) annotations["dev.openshell.sandbox.workspace"] = req.workspace;

  json namespaces = json::array({{{"type", "pid"}}, {{"type", "ipc"}}, {{"type", "uts"}},
                                 {{"type", "mount"}}});
  if (!in.netns_path.empty()) namespaces.push_back({{"type", "network"}, {"path", in.netns_path}});

  json spec = {
      {"ociVersion", "1.0.2"},
      {"process", process},
      {"root", {{"path", "rootfs"}, {"readonly", false}}},
      {"hostname", req.name},
      {"mounts", mounts},
      {"annotations", annotations},
      {"linux",
       {{"namespaces", namespaces},
        {"cgroupsPath", in.cgroups_path},
        {"resources", Resources(in)}}},
  };
  return spec;
}

std::string SpecNetnsPath(const nlohmann::json& spec) {
  if (!spec.is_object() || !spec.contains("linux")) return "";
  const auto& linux_section = spec["linux"];
  if (!linux_section.is_object() || !linux_section.contains("namespaces")) return "";
  for (const auto& ns : linux_section["namespaces"]) {
    if (ns.is_object() && ns.value("type", "") == "network") return ns.value("path", "");
  }
  return "";
}

}  // namespace osgv
