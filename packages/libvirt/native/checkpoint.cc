// Checkpoints, addressed by (domain, name): JS never holds a checkpoint object.
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "convert.h"
#include "pool.h"

namespace vv {

struct CheckpointInfo {
  std::string name;
  std::string parent;  // empty: a root
};

/** Name and parent of `cp` (pool thread); does not free `cp`. */
static CheckpointInfo Describe(virDomainCheckpointPtr cp) {
  CheckpointInfo ci;
  ci.name = virDomainCheckpointGetName(cp);
  virDomainCheckpointPtr parent = virDomainCheckpointGetParent(cp, 0);
  if (parent != nullptr) {
    ci.parent = virDomainCheckpointGetName(parent);
    virDomainCheckpointFree(parent);
  } else {
    virErrorPtr e = virGetLastError();
    bool noParent = e != nullptr && e->code == VIR_ERR_NO_DOMAIN_CHECKPOINT;
    if (!noParent) {
      throw LvError::Last("virDomainCheckpointGetParent");
    }
    virResetLastError();
  }
  return ci;
}

/** Frees the checkpoint on every path out of a scope. */
struct CpGuard {
  virDomainCheckpointPtr cp;
  ~CpGuard() {
    if (cp != nullptr) {
      virDomainCheckpointFree(cp);
    }
  }
};

static Napi::Value InfoToJs(Napi::Env env, CheckpointInfo& ci) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("name", ci.name);
  if (!ci.parent.empty()) {
    o.Set("parent", ci.parent);
  }
  return o;
}

static virDomainCheckpointPtr Lookup(virDomainPtr d, const std::string& name) {
  virDomainCheckpointPtr cp = virDomainCheckpointLookupByName(d, name.c_str(), 0);
  Check(cp == nullptr, "virDomainCheckpointLookupByName");
  return cp;
}

/** checkpointCreate(dom, xml, flags) -> Promise<{name, parent?}> */
static Napi::Value Create(const Napi::CallbackInfo& info) {
  std::string xml = StrArg(info, 1);
  unsigned int flags = FlagsArg(info, 2);
  return Run<CheckpointInfo>(info.Env(), OnDom<CheckpointInfo>(info, 0, [xml, flags](virDomainPtr d) {
    CpGuard g{virDomainCheckpointCreateXML(d, xml.c_str(), flags)};
    Check(g.cp == nullptr, "virDomainCheckpointCreateXML");
    return Describe(g.cp);
  }), InfoToJs);
}

/** checkpointList(dom, flags) -> Promise<{name, parent?}[]> */
static Napi::Value List(const Napi::CallbackInfo& info) {
  unsigned int flags = FlagsArg(info, 1);
  using List = std::vector<CheckpointInfo>;
  return Run<List>(info.Env(), OnDom<List>(info, 0, [flags](virDomainPtr d) {
    virDomainCheckpointPtr* cps = nullptr;
    int n = virDomainListAllCheckpoints(d, &cps, flags);
    Check(n < 0, "virDomainListAllCheckpoints");
    List out;
    std::optional<LvError> failed;
    for (int k = 0; k < n; k++) {
      if (!failed) {
        try {
          out.push_back(Describe(cps[k]));
        } catch (const LvError& e) {
          failed = e;
        }
      }
      virDomainCheckpointFree(cps[k]);
    }
    free(cps);
    if (failed) {
      throw *failed;
    }
    return out;
  }), [](Napi::Env env, List& list) -> Napi::Value {
    Napi::Array a = Napi::Array::New(env, list.size());
    for (size_t k = 0; k < list.size(); k++) {
      a.Set(static_cast<uint32_t>(k), InfoToJs(env, list[k]));
    }
    return a;
  });
}

/** checkpointLookup(dom, name) -> Promise<{name, parent?}> */
static Napi::Value LookupJs(const Napi::CallbackInfo& info) {
  std::string name = StrArg(info, 1);
  return Run<CheckpointInfo>(info.Env(), OnDom<CheckpointInfo>(info, 0, [name](virDomainPtr d) {
    CpGuard g{Lookup(d, name)};
    return Describe(g.cp);
  }), InfoToJs);
}

/** checkpointGetXml(dom, name, flags) -> Promise<string> */
static Napi::Value GetXml(const Napi::CallbackInfo& info) {
  std::string name = StrArg(info, 1);
  unsigned int flags = FlagsArg(info, 2);
  return Run<std::string>(info.Env(), OnDom<std::string>(info, 0, [name, flags](virDomainPtr d) {
    CpGuard g{Lookup(d, name)};
    return TakeString(virDomainCheckpointGetXMLDesc(g.cp, flags), "virDomainCheckpointGetXMLDesc");
  }), StringToJs);
}

/** checkpointDelete(dom, name, flags) -> Promise<void> */
static Napi::Value Delete(const Napi::CallbackInfo& info) {
  std::string name = StrArg(info, 1);
  unsigned int flags = FlagsArg(info, 2);
  return Run<int>(info.Env(), OnDom<int>(info, 0, [name, flags](virDomainPtr d) {
    CpGuard g{Lookup(d, name)};
    Check(virDomainCheckpointDelete(g.cp, flags) < 0, "virDomainCheckpointDelete");
    return 0;
  }), [](Napi::Env env, int&) { return env.Undefined(); });
}

void InitCheckpoint(Napi::Env env, Napi::Object exports) {
  exports.Set("checkpointCreate", Napi::Function::New(env, Create));
  exports.Set("checkpointList", Napi::Function::New(env, List));
  exports.Set("checkpointLookup", Napi::Function::New(env, LookupJs));
  exports.Set("checkpointGetXml", Napi::Function::New(env, GetXml));
  exports.Set("checkpointDelete", Napi::Function::New(env, Delete));
}

}  // namespace vv
