// Where everything lives under the state directory. One place, so the
// recovery code and the operator docs agree with the code that writes.
//
//   <state>/driver.lock              one driver per state dir (flock)
//   <state>/state.db                 sandbox records (SQLite, WAL)
//   <state>/runsc/                   runsc --root
//   <state>/images/                  shared, read-only image cache
//   <state>/checkpoints/<runsc id>/  memory images, unless checkpoint_dir is set
//   <state>/sandboxes/<runsc id>/    one directory per sandbox:
//        bundle/config.json, bundle/rootfs (overlay mount point),
//        upper/, work/ (its writable layer), monitor.json, monitor.log,
//        console.log (main process output), exit (written by the monitor)
//   <checkpoint_dir>/<runsc id>/     memory images (checkpoint_dir unset:
//                                    <state>/checkpoints)
#pragma once

#include <string>

namespace osgv {

struct StateLayout {
  std::string root;

  std::string lock_file() const { return root + "/driver.lock"; }
  std::string database() const { return root + "/state.db"; }
  std::string runsc_root() const { return root + "/runsc"; }
  std::string images() const { return root + "/images"; }
  std::string sandboxes() const { return root + "/sandboxes"; }
  // Where checkpoints go when the config names no checkpoint_dir.
  std::string default_checkpoints() const { return root + "/checkpoints"; }
  std::string sandbox_dir(const std::string& rid) const { return sandboxes() + "/" + rid; }
  std::string bundle(const std::string& rid) const { return sandbox_dir(rid) + "/bundle"; }
  std::string rootfs(const std::string& rid) const { return bundle(rid) + "/rootfs"; }
  std::string upper(const std::string& rid) const { return sandbox_dir(rid) + "/upper"; }
  std::string work(const std::string& rid) const { return sandbox_dir(rid) + "/work"; }
  std::string monitor_spec(const std::string& rid) const { return sandbox_dir(rid) + "/monitor.json"; }
  std::string monitor_log(const std::string& rid) const { return sandbox_dir(rid) + "/monitor.log"; }
  std::string console_log(const std::string& rid) const { return sandbox_dir(rid) + "/console.log"; }
  std::string exit_file(const std::string& rid) const { return sandbox_dir(rid) + "/exit"; }
  // Where memory images live: the config's checkpoint_dir, "" meaning
  // inside the state dir.
  std::string checkpoints(const std::string& checkpoint_dir) const {
    return checkpoint_dir.empty() ? root + "/checkpoints" : checkpoint_dir;
  }
  std::string checkpoint_root(const std::string& checkpoint_dir, const std::string& rid) const {
    return checkpoints(checkpoint_dir) + "/" + rid;
  }
};

}  // namespace osgv
