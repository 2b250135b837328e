// Module entry: libvirt initialisation, the event loop thread, the job pool and all exports.
#include <libvirt/libvirt.h>
#include <napi.h>

#include "events.h"
#include "lv-error.h"
#include "pool.h"

namespace vv {

void InitConnection(Napi::Env env, Napi::Object exports);
void InitDomain(Napi::Env env, Napi::Object exports);
void InitCheckpoint(Napi::Env env, Napi::Object exports);

static Napi::Value PoolStats(const Napi::CallbackInfo& info) {
  return GetPool(info.Env()).Stats(info.Env());
}

static void FreePool(Napi::Env, Pool* p) {
  p->Shutdown();
  delete p;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  if (virInitialize() < 0) {
    throw Napi::Error::New(env, "virInitialize failed");
  }
  SilenceLibvirtErrors();
  // must precede the first virConnectOpen so that events and keepalive work on every connection
  StartEventLoop();
  auto* pool = new Pool(env);
  env.SetInstanceData<Pool, FreePool>(pool);
  InitConnection(env, exports);
  InitDomain(env, exports);
  InitCheckpoint(env, exports);
  exports.Set("poolStats", Napi::Function::New(env, PoolStats));
  return exports;
}

}  // namespace vv

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return vv::Init(env, exports); }

NODE_API_MODULE(virtvault_libvirt, InitModule)
