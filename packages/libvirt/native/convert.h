// Handles (libvirt objects owned by JS values), argument helpers and C++ -> JS conversions.
#pragma once

#include <libvirt/libvirt.h>
#include <napi.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "lv-error.h"

namespace vv {

struct EventSink;

/** A connection owned by JS: `conn` holds one reference; null once closed. */
struct ConnHandle {
  virConnectPtr conn = nullptr;
  EventSink* sink = nullptr;
};

/** A domain owned by JS: one reference, dropped by the finalizer (on a pool thread). */
struct DomHandle {
  virDomainPtr dom = nullptr;
};

/** One typed parameter (job stats, job-completed events). */
struct Param {
  std::string name;
  int type = 0;
  int64_t i = 0;
  uint64_t u = 0;
  double d = 0;
  bool b = false;
  std::string s;
};
using Params = std::vector<Param>;

/** Copies libvirt's typed params (the caller frees them). */
Params CopyParams(virTypedParameterPtr params, int n);
/** Numbers, booleans and strings by parameter name. */
Napi::Object ParamsToJs(Napi::Env env, const Params& params);

/** What listing and lookups return per domain; `dom` is a reference the JS handle will own. */
struct DomainInfo {
  virDomainPtr dom = nullptr;
  std::string name;
  std::string uuid;
  int id = -1;
  int state = 0;
  int reason = 0;
  bool persistent = false;
  bool active = false;
};
/** Fills a DomainInfo (pool thread); takes over `dom`, frees it if a query fails. */
DomainInfo QueryDomain(virDomainPtr dom);
/** {handle, name, uuid, id, state, reason, persistent, active}. */
Napi::Object DomainInfoToJs(Napi::Env env, DomainInfo& info);
Napi::Value DomainListToJs(Napi::Env env, std::vector<DomainInfo>& list);

/** Frees a libvirt string (char* returned by an API) into a std::string. */
std::string TakeString(char* s, const char* what);

// Argument helpers (JS thread): throw Napi::TypeError on misuse; the TS facade guarantees types.
std::string StrArg(const Napi::CallbackInfo& info, size_t i);
std::string OptStrArg(const Napi::CallbackInfo& info, size_t i, bool* present);
unsigned int FlagsArg(const Napi::CallbackInfo& info, size_t i);
ConnHandle* ConnArg(const Napi::CallbackInfo& info, size_t i);
DomHandle* DomArg(const Napi::CallbackInfo& info, size_t i);

/** Work on a connection: referenced on the JS thread, released on the pool thread after `body`. */
template <typename R>
std::function<R()> OnConn(const Napi::CallbackInfo& info, size_t i,
                          std::function<R(virConnectPtr)> body) {
  ConnHandle* h = ConnArg(info, i);
  if (h->conn == nullptr) {
    throw Napi::Error(info.Env(),
                      LvError::Internal("connection is closed", 6 /* VIR_ERR_INVALID_CONN */)
                          .ToJs(info.Env()));
  }
  virConnectPtr c = h->conn;
  virConnectRef(c);
  return [c, body]() -> R {
    struct Guard {
      virConnectPtr c;
      ~Guard() { virConnectClose(c); }
    } guard{c};
    return body(c);
  };
}

/** Work on a domain: referenced on the JS thread, freed on the pool thread after `body`. */
template <typename R>
std::function<R()> OnDom(const Napi::CallbackInfo& info, size_t i,
                         std::function<R(virDomainPtr)> body) {
  virDomainPtr d = DomArg(info, i)->dom;
  virDomainRef(d);
  return [d, body]() -> R {
    struct Guard {
      virDomainPtr d;
      ~Guard() { virDomainFree(d); }
    } guard{d};
    return body(d);
  };
}

/** Converters shared by many functions. */
Napi::Value StringToJs(Napi::Env env, std::string& s);
Napi::Value IntToJs(Napi::Env env, int& v);

}  // namespace vv
