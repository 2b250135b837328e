#include "convert.h"

#include <cstdlib>

#include "pool.h"

namespace vv {

Params CopyParams(virTypedParameterPtr params, int n) {
  Params out;
  out.reserve(n > 0 ? n : 0);
  for (int k = 0; k < n; k++) {
    const virTypedParameter& p = params[k];
    Param q;
    q.name = p.field;
    q.type = p.type;
    switch (p.type) {
      case VIR_TYPED_PARAM_INT: q.i = p.value.i; break;
      case VIR_TYPED_PARAM_UINT: q.u = p.value.ui; break;
      case VIR_TYPED_PARAM_LLONG: q.i = p.value.l; break;
      case VIR_TYPED_PARAM_ULLONG: q.u = p.value.ul; break;
      case VIR_TYPED_PARAM_DOUBLE: q.d = p.value.d; break;
      case VIR_TYPED_PARAM_BOOLEAN: q.b = p.value.b != 0; break;
      case VIR_TYPED_PARAM_STRING: q.s = p.value.s != nullptr ? p.value.s : ""; break;
      default: continue;
    }
    out.push_back(std::move(q));
  }
  return out;
}

Napi::Object ParamsToJs(Napi::Env env, const Params& params) {
  Napi::Object o = Napi::Object::New(env);
  for (const Param& p : params) {
    switch (p.type) {
      // 64-bit counters become doubles: exact up to 2^53 (8 PiB), enough for bytes and ms
      case VIR_TYPED_PARAM_INT:
      case VIR_TYPED_PARAM_LLONG: o.Set(p.name, static_cast<double>(p.i)); break;
      case VIR_TYPED_PARAM_UINT:
      case VIR_TYPED_PARAM_ULLONG: o.Set(p.name, static_cast<double>(p.u)); break;
      case VIR_TYPED_PARAM_DOUBLE: o.Set(p.name, p.d); break;
      case VIR_TYPED_PARAM_BOOLEAN: o.Set(p.name, p.b); break;
      default: o.Set(p.name, p.s); break;
    }
  }
  return o;
}

DomainInfo QueryDomain(virDomainPtr dom) {
  DomainInfo info;
  info.dom = dom;
  char uuid[VIR_UUID_STRING_BUFLEN];
  int persistent = -1;
  int active = -1;
  bool failed = virDomainGetUUIDString(dom, uuid) < 0 ||
                virDomainGetState(dom, &info.state, &info.reason, 0) < 0 ||
                (persistent = virDomainIsPersistent(dom)) < 0 || (active = virDomainIsActive(dom)) < 0;
  if (failed) {
    LvError e = LvError::Last("virDomainGetState");
    virDomainFree(dom);
    throw e;
  }
  const char* name = virDomainGetName(dom);
  info.name = name != nullptr ? name : "";
  info.uuid = uuid;
  info.id = static_cast<int>(virDomainGetID(dom));
  info.persistent = persistent == 1;
  info.active = active == 1;
  return info;
}

Napi::Object DomainInfoToJs(Napi::Env env, DomainInfo& info) {
  auto* h = new DomHandle{info.dom};
  info.dom = nullptr;  // the handle owns the reference now
  Napi::Object o = Napi::Object::New(env);
  o.Set("handle", Napi::External<DomHandle>::New(env, h, [](Napi::Env env, DomHandle* h) {
          virDomainPtr d = h->dom;
          delete h;
          // virDomainFree may drop the last connection reference, which talks to the daemon
          GetPool(env).Post([d]() { virDomainFree(d); });
        }));
  o.Set("name", info.name);
  o.Set("uuid", info.uuid);
  o.Set("id", info.id);
  o.Set("state", info.state);
  o.Set("reason", info.reason);
  o.Set("persistent", info.persistent);
  o.Set("active", info.active);
  return o;
}

Napi::Value DomainListToJs(Napi::Env env, std::vector<DomainInfo>& list) {
  Napi::Array a = Napi::Array::New(env, list.size());
  for (size_t k = 0; k < list.size(); k++) {
    a.Set(static_cast<uint32_t>(k), DomainInfoToJs(env, list[k]));
  }
  return a;
}

std::string TakeString(char* s, const char* what) {
  Check(s == nullptr, what);
  std::string out(s);
  free(s);
  return out;
}

std::string StrArg(const Napi::CallbackInfo& info, size_t i) {
  if (!info[i].IsString()) {
    throw Napi::TypeError::New(info.Env(), "expected a string argument");
  }
  return info[i].As<Napi::String>().Utf8Value();
}

std::string OptStrArg(const Napi::CallbackInfo& info, size_t i, bool* present) {
  *present = info[i].IsString();
  return *present ? info[i].As<Napi::String>().Utf8Value() : std::string();
}

unsigned int FlagsArg(const Napi::CallbackInfo& info, size_t i) {
  if (!info[i].IsNumber()) {
    throw Napi::TypeError::New(info.Env(), "expected flags (a number)");
  }
  return info[i].As<Napi::Number>().Uint32Value();
}

ConnHandle* ConnArg(const Napi::CallbackInfo& info, size_t i) {
  if (!info[i].IsExternal()) {
    throw Napi::TypeError::New(info.Env(), "expected a connection handle");
  }
  return info[i].As<Napi::External<ConnHandle>>().Data();
}

DomHandle* DomArg(const Napi::CallbackInfo& info, size_t i) {
  if (!info[i].IsExternal()) {
    throw Napi::TypeError::New(info.Env(), "expected a domain handle");
  }
  return info[i].As<Napi::External<DomHandle>>().Data();
}

Napi::Value StringToJs(Napi::Env env, std::string& s) { return Napi::String::New(env, s); }
Napi::Value IntToJs(Napi::Env env, int& v) { return Napi::Number::New(env, v); }

}  // namespace vv
