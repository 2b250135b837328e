// Connection-level calls: open/close, keepalive, listing, lookups, define and create.
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "convert.h"
#include "events.h"
#include "pool.h"

namespace vv {

// No interactive prompts ever: a credential libvirt asks for makes the open fail with an auth error.
static int NoPrompt(virConnectCredentialPtr, unsigned int, void*) { return -1; }
static int kCredTypes[] = {VIR_CRED_AUTHNAME, VIR_CRED_PASSPHRASE, VIR_CRED_NOECHOPROMPT};
static virConnectAuth kNoPromptAuth = {kCredTypes, 3, NoPrompt, nullptr};

static void FinalizeConn(Napi::Env env, ConnHandle* h) {
  virConnectPtr c = h->conn;
  EventSink* sink = h->sink;
  delete h;
  if (c != nullptr) {  // dropped without close(): close on a pool thread (it may talk to the daemon)
    GetPool(env).Post([c, sink]() {
      DetachEvents(sink, c);
      UnrefEventSink(sink);
      virConnectClose(c);
    });
  }
}

/** open(uri | null, readOnly, onEvent) -> Promise<handle> */
static Napi::Value Open(const Napi::CallbackInfo& info) {
  bool hasUri = false;
  std::string uri = OptStrArg(info, 0, &hasUri);
  unsigned int flags = info[1].ToBoolean() ? VIR_CONNECT_RO : 0;
  EventSink* sink = NewEventSink(info.Env(), info[2].As<Napi::Function>());
  auto* h = new ConnHandle{nullptr, sink};
  std::function<int()> work = [uri, hasUri, flags, h, sink]() {
    virConnectPtr c = virConnectOpenAuth(hasUri ? uri.c_str() : nullptr, &kNoPromptAuth, flags);
    if (c == nullptr) {
      LvError e = LvError::Last("virConnectOpenAuth");
      UnrefEventSink(sink);
      delete h;  // never handed to JS
      throw e;
    }
    try {
      AttachEvents(sink, c);
    } catch (const LvError&) {
      DetachEvents(sink, c);
      UnrefEventSink(sink);
      delete h;
      virConnectClose(c);
      throw;
    }
    h->conn = c;
    return 0;
  };
  return Run<int>(info.Env(), work, [h](Napi::Env env, int&) -> Napi::Value {
    return Napi::External<ConnHandle>::New(env, h, FinalizeConn);
  });
}

/** close(handle) -> Promise<void>; idempotent. */
static Napi::Value Close(const Napi::CallbackInfo& info) {
  ConnHandle* h = ConnArg(info, 0);
  virConnectPtr c = h->conn;
  EventSink* sink = h->sink;
  h->conn = nullptr;  // later calls fail fast with VIR_ERR_INVALID_CONN
  h->sink = nullptr;
  std::function<int()> work = [c, sink]() {
    if (c != nullptr) {
      DetachEvents(sink, c);
      UnrefEventSink(sink);
      virConnectClose(c);
    }
    return 0;
  };
  return Run<int>(info.Env(), work, [](Napi::Env env, int&) { return env.Undefined(); });
}

/** setKeepAlive(handle, intervalSec, count) -> Promise<number> (1 = peer lacks keepalive). */
static Napi::Value SetKeepAlive(const Napi::CallbackInfo& info) {
  int interval = info[1].As<Napi::Number>().Int32Value();
  unsigned int count = info[2].As<Napi::Number>().Uint32Value();
  return Run<int>(info.Env(), OnConn<int>(info, 0, [interval, count](virConnectPtr c) {
    int r = virConnectSetKeepAlive(c, interval, count);
    Check(r < 0, "virConnectSetKeepAlive");
    return r;
  }), IntToJs);
}

/** isAlive(handle) -> Promise<boolean> */
static Napi::Value IsAlive(const Napi::CallbackInfo& info) {
  ConnHandle* h = ConnArg(info, 0);
  if (h->conn == nullptr) {
    Napi::Promise::Deferred d = Napi::Promise::Deferred::New(info.Env());
    d.Resolve(Napi::Boolean::New(info.Env(), false));
    return d.Promise();
  }
  return Run<int>(info.Env(), OnConn<int>(info, 0, [](virConnectPtr c) {
    return virConnectIsAlive(c) == 1 ? 1 : 0;
  }), [](Napi::Env env, int& v) -> Napi::Value { return Napi::Boolean::New(env, v == 1); });
}

/** getURI(handle) -> Promise<string> */
static Napi::Value GetUri(const Napi::CallbackInfo& info) {
  return Run<std::string>(info.Env(), OnConn<std::string>(info, 0, [](virConnectPtr c) {
    return TakeString(virConnectGetURI(c), "virConnectGetURI");
  }), StringToJs);
}

/** getLibVersion(handle) -> Promise<number> (major * 1,000,000 + minor * 1,000 + release) */
static Napi::Value GetLibVersion(const Napi::CallbackInfo& info) {
  return Run<int>(info.Env(), OnConn<int>(info, 0, [](virConnectPtr c) {
    unsigned long v = 0;
    Check(virConnectGetLibVersion(c, &v) < 0, "virConnectGetLibVersion");
    return static_cast<int>(v);
  }), IntToJs);
}

/** listAllDomains(handle, flags) -> Promise<DomainInfo[]> */
static Napi::Value ListAllDomains(const Napi::CallbackInfo& info) {
  unsigned int flags = FlagsArg(info, 1);
  return Run<std::vector<DomainInfo>>(
      info.Env(), OnConn<std::vector<DomainInfo>>(info, 0, [flags](virConnectPtr c) {
        virDomainPtr* doms = nullptr;
        int n = virConnectListAllDomains(c, &doms, flags);
        Check(n < 0, "virConnectListAllDomains");
        std::vector<DomainInfo> out;
        for (int k = 0; k < n; k++) {
          try {
            out.push_back(QueryDomain(doms[k]));  // QueryDomain frees the domain on failure
          } catch (const LvError& e) {
            if (e.code == VIR_ERR_NO_DOMAIN) {
              continue;  // vanished between listing and querying: skip it
            }
            // anything else (the connection lost midway) fails the whole listing: a short list
            // would read as domains gone, and their backups as nothing to do
            for (auto& d : out) {
              virDomainFree(d.dom);
            }
            for (int rest = k + 1; rest < n; rest++) {
              virDomainFree(doms[rest]);
            }
            free(doms);
            throw;
          }
        }
        free(doms);
        return out;
      }), DomainListToJs);
}

/** Shared shape of lookups/define/create: one virDomainPtr-returning call. */
static Napi::Value DomainFromConn(const Napi::CallbackInfo& info, const char* what,
                                  std::function<virDomainPtr(virConnectPtr)> call) {
  return Run<DomainInfo>(info.Env(), OnConn<DomainInfo>(info, 0, [what, call](virConnectPtr c) {
    virDomainPtr d = call(c);
    Check(d == nullptr, what);
    return QueryDomain(d);
  }), DomainInfoToJs);
}

static Napi::Value LookupByName(const Napi::CallbackInfo& info) {
  std::string name = StrArg(info, 1);
  return DomainFromConn(info, "virDomainLookupByName",
                        [name](virConnectPtr c) { return virDomainLookupByName(c, name.c_str()); });
}

static Napi::Value LookupByUuid(const Napi::CallbackInfo& info) {
  std::string uuid = StrArg(info, 1);
  return DomainFromConn(info, "virDomainLookupByUUIDString", [uuid](virConnectPtr c) {
    return virDomainLookupByUUIDString(c, uuid.c_str());
  });
}

static Napi::Value DefineXml(const Napi::CallbackInfo& info) {
  std::string xml = StrArg(info, 1);
  unsigned int flags = FlagsArg(info, 2);
  return DomainFromConn(info, "virDomainDefineXMLFlags", [xml, flags](virConnectPtr c) {
    return virDomainDefineXMLFlags(c, xml.c_str(), flags);
  });
}

static Napi::Value CreateXml(const Napi::CallbackInfo& info) {
  std::string xml = StrArg(info, 1);
  unsigned int flags = FlagsArg(info, 2);
  return DomainFromConn(info, "virDomainCreateXML", [xml, flags](virConnectPtr c) {
    return virDomainCreateXML(c, xml.c_str(), flags);
  });
}

void InitConnection(Napi::Env env, Napi::Object exports) {
  exports.Set("open", Napi::Function::New(env, Open));
  exports.Set("close", Napi::Function::New(env, Close));
  exports.Set("setKeepAlive", Napi::Function::New(env, SetKeepAlive));
  exports.Set("isAlive", Napi::Function::New(env, IsAlive));
  exports.Set("getUri", Napi::Function::New(env, GetUri));
  exports.Set("getLibVersion", Napi::Function::New(env, GetLibVersion));
  exports.Set("listAllDomains", Napi::Function::New(env, ListAllDomains));
  exports.Set("lookupByName", Napi::Function::New(env, LookupByName));
  exports.Set("lookupByUuid", Napi::Function::New(env, LookupByUuid));
  exports.Set("defineXml", Napi::Function::New(env, DefineXml));
  exports.Set("createXml", Napi::Function::New(env, CreateXml));
}

}  // namespace vv
