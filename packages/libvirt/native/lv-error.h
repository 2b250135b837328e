// libvirt's thread-local error, copied off the worker thread so the JS thread can reject with it.
#pragma once

#include <napi.h>

#include <string>

namespace vv {

struct LvError {
  int code = 1;    // virErrorNumber (1 = VIR_ERR_INTERNAL_ERROR)
  int domain = 0;  // virErrorDomain
  int level = 2;   // virErrorLevel (2 = error)
  std::string message;

  /** The calling thread's last libvirt error (then reset), or a generic one if libvirt set none. */
  static LvError Last(const char* what);
  /** An error raised by the addon itself (bad state, not libvirt). */
  static LvError Internal(const std::string& message, int code = 1);
  /** A plain Error with virCode/virDomain/virLevel; the TS layer turns it into LibvirtError. */
  Napi::Value ToJs(Napi::Env env) const;
};

/** Throws LvError::Last(what) if `failed`. */
inline void Check(bool failed, const char* what) {
  if (failed) {
    throw LvError::Last(what);
  }
}

/** Installs a silent global error handler (libvirt prints every error to stderr by default). */
void SilenceLibvirtErrors();

}  // namespace vv
