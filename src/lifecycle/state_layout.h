// Where everything lives under the state directory, and in each sandbox's
// and checkpoint's directory. The only place that composes these paths, so
// the code that writes, the code that recovers, the orphan sweep and the
// operator docs agree.
//
//   <state>/driver.lock              one driver per state dir (flock)
//   <state>/state.db                 sandbox records (SQLite, WAL)
//   <state>/runsc/                   runsc --root
//   <state>/images/                  shared, read-only image cache
//   <state>/checkpoints/<runsc id>/  memory images, unless checkpoint_dir is set
//   <state>/sandboxes/<runsc id>/    one directory per sandbox (SandboxPaths):
//        bundle/config.json, bundle/rootfs (overlay mount point),
//        upper/, work/ (its writable layer), monitor.json, monitor.log,
//        monitor.pid, console.log (main process output), exit (written by
//        the monitor), auth/sandbox.jwt (the token, when it has one)
//   <checkpoint_dir>/<runsc id>/     memory images (CheckpointPaths;
//                                    checkpoint_dir unset: <state>/checkpoints)
#pragma once

#include <string>

namespace osgv {

// One sandbox's directory: <state>/sandboxes/<runsc id>, or the staged copy
// an import fills before renaming it there.
struct SandboxPaths {
  std::string dir;

  std::string bundle() const { return dir + "/bundle"; }
  // Written only by the bundle writer (bundle/bundle_writer.h).
  std::string bundle_config() const { return bundle() + "/config.json"; }
  std::string rootfs() const { return bundle() + "/rootfs"; }
  std::string upper() const { return dir + "/upper"; }
  std::string work() const { return dir + "/work"; }
  std::string monitor_spec() const { return dir + "/monitor.json"; }
  std::string monitor_log() const { return dir + "/monitor.log"; }
  // Written by the monitor itself, which knows its directory only.
  std::string monitor_pid() const { return dir + "/monitor.pid"; }
  std::string console_log() const { return dir + "/console.log"; }
  std::string exit_file() const { return dir + "/exit"; }
  std::string auth_dir() const { return dir + "/auth"; }
  std::string token_file() const { return auth_dir() + "/sandbox.jwt"; }
};

// One sandbox's checkpoint root: <checkpoints>/<runsc id>.
struct CheckpointPaths {
  // runsc writes a new image into a staging dir named with this prefix,
  // sealed into image() once complete (sandbox_stop.cc).
  static constexpr char kStagingPrefix[] = "tmp-";

  std::string root;

  std::string image() const { return root + "/image"; }
  std::string staging(const std::string& suffix) const {
    return root + "/" + kStagingPrefix + suffix;
  }
  // The RestoreGate's view of image() while Start verifies it.
  std::string restore_view() const { return root + "/restore-view"; }
};

struct StateLayout {
  // An import fills <sandboxes>/<this><rid> and <checkpoints>/<this><rid>,
  // then renames them into place (migration/sandbox_import.cc).
  static constexpr char kImportStagingPrefix[] = ".import-";

  std::string root;

  std::string lock_file() const { return root + "/driver.lock"; }
  std::string database() const { return root + "/state.db"; }
  std::string runsc_root() const { return root + "/runsc"; }
  std::string images() const { return root + "/images"; }
  std::string sandboxes() const { return root + "/sandboxes"; }

  SandboxPaths sandbox(const std::string& rid) const { return {sandboxes() + "/" + rid}; }
  std::string sandbox_dir(const std::string& rid) const { return sandbox(rid).dir; }
  std::string bundle(const std::string& rid) const { return sandbox(rid).bundle(); }
  std::string bundle_config(const std::string& rid) const { return sandbox(rid).bundle_config(); }
  std::string rootfs(const std::string& rid) const { return sandbox(rid).rootfs(); }
  std::string upper(const std::string& rid) const { return sandbox(rid).upper(); }
  std::string work(const std::string& rid) const { return sandbox(rid).work(); }
  std::string monitor_spec(const std::string& rid) const { return sandbox(rid).monitor_spec(); }
  std::string monitor_log(const std::string& rid) const { return sandbox(rid).monitor_log(); }
  std::string monitor_pid(const std::string& rid) const { return sandbox(rid).monitor_pid(); }
  std::string console_log(const std::string& rid) const { return sandbox(rid).console_log(); }
  std::string exit_file(const std::string& rid) const { return sandbox(rid).exit_file(); }

  // Where memory images live: the config's checkpoint_dir, "" meaning
  // <state>/checkpoints.
  std::string checkpoints(const std::string& checkpoint_dir) const {
    return checkpoint_dir.empty() ? root + "/checkpoints" : checkpoint_dir;
  }
  CheckpointPaths checkpoint(const std::string& checkpoint_dir, const std::string& rid) const {
    return {checkpoints(checkpoint_dir) + "/" + rid};
  }
  std::string checkpoint_root(const std::string& checkpoint_dir, const std::string& rid) const {
    return checkpoint(checkpoint_dir, rid).root;
  }

  std::string staged_sandbox_dir(const std::string& rid) const {
    return sandboxes() + "/" + kImportStagingPrefix + rid;
  }
  CheckpointPaths staged_checkpoint(const std::string& checkpoint_dir,
                                    const std::string& rid) const {
    return {checkpoints(checkpoint_dir) + "/" + kImportStagingPrefix + rid};
  }
};

}  // namespace osgv
