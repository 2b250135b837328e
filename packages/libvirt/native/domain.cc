// Domain-level calls: state, XML, lifecycle, jobs, backups, guest-agent freezes and the QEMU monitor.
#include <libvirt/libvirt-qemu.h>
#include <libvirt/libvirt.h>

#include <string>
#include <vector>

#include "convert.h"
#include "pool.h"

namespace vv {

static Napi::Value Undefined(Napi::Env env, int&) { return env.Undefined(); }

/** Runs an int-returning domain call with flags (start, destroy, shutdown, undefine, abort). */
static Napi::Value SimpleCall(const Napi::CallbackInfo& info, const char* what,
                              int (*call)(virDomainPtr, unsigned int)) {
  unsigned int flags = FlagsArg(info, 1);
  return Run<int>(info.Env(), OnDom<int>(info, 0, [what, call, flags](virDomainPtr d) {
    Check(call(d, flags) < 0, what);
    return 0;
  }), Undefined);
}

static Napi::Value Start(const Napi::CallbackInfo& info) {
  return SimpleCall(info, "virDomainCreateWithFlags", virDomainCreateWithFlags);
}
static Napi::Value Destroy(const Napi::CallbackInfo& info) {
  return SimpleCall(info, "virDomainDestroyFlags", virDomainDestroyFlags);
}
static Napi::Value Shutdown(const Napi::CallbackInfo& info) {
  return SimpleCall(info, "virDomainShutdownFlags", virDomainShutdownFlags);
}
static Napi::Value Undefine(const Napi::CallbackInfo& info) {
  return SimpleCall(info, "virDomainUndefineFlags", virDomainUndefineFlags);
}
static Napi::Value AbortJob(const Napi::CallbackInfo& info) {
  return SimpleCall(info, "virDomainAbortJobFlags", virDomainAbortJobFlags);
}

/** info(dom) -> Promise<DomainInfo> with fresh state; the handle inside is a new reference. */
static Napi::Value Info(const Napi::CallbackInfo& info) {
  return Run<DomainInfo>(info.Env(), OnDom<DomainInfo>(info, 0, [](virDomainPtr d) {
    virDomainRef(d);  // QueryDomain takes over one reference
    return QueryDomain(d);
  }), DomainInfoToJs);
}

static Napi::Value GetXml(const Napi::CallbackInfo& info) {
  unsigned int flags = FlagsArg(info, 1);
  return Run<std::string>(info.Env(), OnDom<std::string>(info, 0, [flags](virDomainPtr d) {
    return TakeString(virDomainGetXMLDesc(d, flags), "virDomainGetXMLDesc");
  }), StringToJs);
}

struct JobStats {
  int type = 0;
  Params params;
};

/** jobStats(dom, flags) -> Promise<{type, stats}> */
static Napi::Value GetJobStats(const Napi::CallbackInfo& info) {
  unsigned int flags = FlagsArg(info, 1);
  return Run<JobStats>(info.Env(), OnDom<JobStats>(info, 0, [flags](virDomainPtr d) {
    JobStats js;
    virTypedParameterPtr params = nullptr;
    int n = 0;
    Check(virDomainGetJobStats(d, &js.type, &params, &n, flags) < 0, "virDomainGetJobStats");
    js.params = CopyParams(params, n);
    virTypedParamsFree(params, n);
    return js;
  }), [](Napi::Env env, JobStats& js) -> Napi::Value {
    Napi::Object o = Napi::Object::New(env);
    o.Set("type", js.type);
    o.Set("stats", ParamsToJs(env, js.params));
    return o;
  });
}

/** backupBegin(dom, backupXml, checkpointXml | null, flags) -> Promise<void> */
static Napi::Value BackupBegin(const Napi::CallbackInfo& info) {
  std::string backupXml = StrArg(info, 1);
  bool hasCp = false;
  std::string cpXml = OptStrArg(info, 2, &hasCp);
  unsigned int flags = FlagsArg(info, 3);
  return Run<int>(info.Env(), OnDom<int>(info, 0, [backupXml, cpXml, hasCp, flags](virDomainPtr d) {
    int r = virDomainBackupBegin(d, backupXml.c_str(), hasCp ? cpXml.c_str() : nullptr, flags);
    Check(r < 0, "virDomainBackupBegin");
    return 0;
  }), Undefined);
}

static Napi::Value BackupGetXml(const Napi::CallbackInfo& info) {
  unsigned int flags = FlagsArg(info, 1);
  return Run<std::string>(info.Env(), OnDom<std::string>(info, 0, [flags](virDomainPtr d) {
    return TakeString(virDomainBackupGetXMLDesc(d, flags), "virDomainBackupGetXMLDesc");
  }), StringToJs);
}

/** Mount points from a JS string array (empty: every filesystem the agent knows). */
static std::vector<std::string> MountpointsArg(const Napi::CallbackInfo& info, size_t i) {
  std::vector<std::string> out;
  if (!info[i].IsArray()) {
    throw Napi::TypeError::New(info.Env(), "expected an array of mount points");
  }
  Napi::Array a = info[i].As<Napi::Array>();
  for (uint32_t k = 0; k < a.Length(); k++) {
    out.push_back(a.Get(k).As<Napi::String>().Utf8Value());
  }
  return out;
}

using FsCall = int (*)(virDomainPtr, const char**, unsigned int, unsigned int);

/** fsFreeze/fsThaw(dom, mountpoints, flags) -> Promise<number of filesystems> (guest agent). */
static Napi::Value FsCallOn(const Napi::CallbackInfo& info, const char* what, FsCall call) {
  std::vector<std::string> mounts = MountpointsArg(info, 1);
  unsigned int flags = FlagsArg(info, 2);
  return Run<int>(info.Env(), OnDom<int>(info, 0, [what, call, mounts, flags](virDomainPtr d) {
    std::vector<const char*> ptrs;
    for (const std::string& m : mounts) {
      ptrs.push_back(m.c_str());
    }
    int n = call(d, ptrs.empty() ? nullptr : ptrs.data(), ptrs.size(), flags);
    Check(n < 0, what);
    return n;
  }), IntToJs);
}

static Napi::Value FsFreeze(const Napi::CallbackInfo& info) {
  return FsCallOn(info, "virDomainFSFreeze", virDomainFSFreeze);
}
static Napi::Value FsThaw(const Napi::CallbackInfo& info) {
  return FsCallOn(info, "virDomainFSThaw", virDomainFSThaw);
}

/** agentSetResponseTimeout(dom, seconds, flags): -2 blocks, -1 default, 0 no wait. */
static Napi::Value AgentSetResponseTimeout(const Napi::CallbackInfo& info) {
  if (!info[1].IsNumber()) {
    throw Napi::TypeError::New(info.Env(), "expected a timeout in seconds");
  }
  int timeout = info[1].As<Napi::Number>().Int32Value();
  unsigned int flags = FlagsArg(info, 2);
  return Run<int>(info.Env(), OnDom<int>(info, 0, [timeout, flags](virDomainPtr d) {
    Check(virDomainAgentSetResponseTimeout(d, timeout, flags) < 0,
          "virDomainAgentSetResponseTimeout");
    return 0;
  }), Undefined);
}

/** qemuMonitorCommand(dom, command, flags) -> Promise<string> (JSON for QMP, text for HMP) */
static Napi::Value QemuMonitorCommand(const Napi::CallbackInfo& info) {
  std::string cmd = StrArg(info, 1);
  unsigned int flags = FlagsArg(info, 2);
  return Run<std::string>(info.Env(), OnDom<std::string>(info, 0, [cmd, flags](virDomainPtr d) {
    char* result = nullptr;
    Check(virDomainQemuMonitorCommand(d, cmd.c_str(), &result, flags) < 0,
          "virDomainQemuMonitorCommand");
    return TakeString(result, "virDomainQemuMonitorCommand");
  }), StringToJs);
}

void InitDomain(Napi::Env env, Napi::Object exports) {
  exports.Set("domainStart", Napi::Function::New(env, Start));
  exports.Set("domainDestroy", Napi::Function::New(env, Destroy));
  exports.Set("domainShutdown", Napi::Function::New(env, Shutdown));
  exports.Set("domainUndefine", Napi::Function::New(env, Undefine));
  exports.Set("domainAbortJob", Napi::Function::New(env, AbortJob));
  exports.Set("domainInfo", Napi::Function::New(env, Info));
  exports.Set("domainGetXml", Napi::Function::New(env, GetXml));
  exports.Set("domainJobStats", Napi::Function::New(env, GetJobStats));
  exports.Set("domainBackupBegin", Napi::Function::New(env, BackupBegin));
  exports.Set("domainBackupGetXml", Napi::Function::New(env, BackupGetXml));
  exports.Set("domainFsFreeze", Napi::Function::New(env, FsFreeze));
  exports.Set("domainFsThaw", Napi::Function::New(env, FsThaw));
  exports.Set("domainAgentSetResponseTimeout", Napi::Function::New(env, AgentSetResponseTimeout));
  exports.Set("domainQemuMonitorCommand", Napi::Function::New(env, QemuMonitorCommand));
}

}  // namespace vv
