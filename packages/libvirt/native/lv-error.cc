#include "lv-error.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

namespace vv {

LvError LvError::Last(const char* what) {
  LvError e;
  virErrorPtr err = virGetLastError();
  if (err != nullptr && err->code != VIR_ERR_OK) {
    e.code = err->code;
    e.domain = err->domain;
    e.level = err->level;
    e.message = err->message != nullptr ? err->message : what;
  } else {
    e.message = std::string(what) + " failed without a libvirt error";
  }
  virResetLastError();
  return e;
}

LvError LvError::Internal(const std::string& message, int code) {
  LvError e;
  e.code = code;
  e.message = message;
  return e;
}

Napi::Value LvError::ToJs(Napi::Env env) const {
  Napi::Error err = Napi::Error::New(env, message);
  Napi::Object o = err.Value();
  o.Set("virCode", code);
  o.Set("virDomain", domain);
  o.Set("virLevel", level);
  return o;
}

static void Silent(void*, virErrorPtr) {}

void SilenceLibvirtErrors() { virSetErrorFunc(nullptr, Silent); }

}  // namespace vv
