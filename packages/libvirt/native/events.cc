#include "events.h"

#include <libvirt/virterror.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "convert.h"

namespace vv {

struct Event {
  std::string type;  // close | lifecycle | job-completed | block-job
  std::string domName;
  std::string domUuid;
  int a = 0;  // close: reason; lifecycle: event; block-job: job type
  int b = 0;  // lifecycle: detail; block-job: status
  std::string disk;
  Params params;
};

static void CallEventJs(Napi::Env env, Napi::Function callback, void*, Event* ev);
using EventTsfn = Napi::TypedThreadSafeFunction<void, Event, CallEventJs>;

struct EventSink {
  EventTsfn tsfn;
  std::atomic<int> refs{1};  // owner + one per registered libvirt callback
  std::vector<int> callbackIds;
  bool closeRegistered = false;
};

void StartEventLoop() {
  static std::once_flag once;
  std::call_once(once, []() {
    virEventRegisterDefaultImpl();
    std::thread([]() {
      for (;;) {
        virEventRunDefaultImpl();
      }
    }).detach();
  });
}

static void CallEventJs(Napi::Env env, Napi::Function callback, void*, Event* ev) {
  std::unique_ptr<Event> owned(ev);
  if (env == nullptr) {
    return;
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("type", ev->type);
  if (ev->type == "close") {
    o.Set("reason", ev->a);
  } else {
    o.Set("domainName", ev->domName);
    o.Set("domainUuid", ev->domUuid);
  }
  if (ev->type == "lifecycle") {
    o.Set("event", ev->a);
    o.Set("detail", ev->b);
  } else if (ev->type == "block-job") {
    o.Set("disk", ev->disk);
    o.Set("jobType", ev->a);
    o.Set("status", ev->b);
  } else if (ev->type == "job-completed") {
    o.Set("stats", ParamsToJs(env, ev->params));
  }
  callback.Call({o});
}

static void Emit(void* opaque, Event* ev, virDomainPtr dom) {
  if (dom != nullptr) {
    const char* name = virDomainGetName(dom);
    char uuid[VIR_UUID_STRING_BUFLEN] = "";
    virDomainGetUUIDString(dom, uuid);
    ev->domName = name != nullptr ? name : "";
    ev->domUuid = uuid;
  }
  // NonBlocking: the event loop thread must never wait for JS
  if (static_cast<EventSink*>(opaque)->tsfn.NonBlockingCall(ev) != napi_ok) {
    delete ev;
  }
}

static int OnLifecycle(virConnectPtr, virDomainPtr dom, int event, int detail, void* opaque) {
  Emit(opaque, new Event{"lifecycle", "", "", event, detail, "", {}}, dom);
  return 0;
}

static void OnJobCompleted(virConnectPtr, virDomainPtr dom, virTypedParameterPtr params, int n,
                           void* opaque) {
  Emit(opaque, new Event{"job-completed", "", "", 0, 0, "", CopyParams(params, n)}, dom);
}

static void OnBlockJob(virConnectPtr, virDomainPtr dom, const char* disk, int type, int status,
                       void* opaque) {
  Emit(opaque, new Event{"block-job", "", "", type, status, disk != nullptr ? disk : "", {}}, dom);
}

static void OnClose(virConnectPtr, int reason, void* opaque) {
  Emit(opaque, new Event{"close", "", "", reason, 0, "", {}}, nullptr);
}

static void FreeCallback(void* opaque) { UnrefEventSink(static_cast<EventSink*>(opaque)); }

EventSink* NewEventSink(Napi::Env env, Napi::Function callback) {
  auto* sink = new EventSink();
  sink->tsfn = EventTsfn::New(env, callback, "virtvault-libvirt-events", 0, 1);
  sink->tsfn.Unref(env);  // events alone never keep the process alive
  return sink;
}

static void Register(EventSink* sink, virConnectPtr conn, int id, virConnectDomainEventGenericCallback cb) {
  sink->refs++;
  int cid = virConnectDomainEventRegisterAny(conn, nullptr, id, cb, sink, FreeCallback);
  if (cid < 0) {
    sink->refs--;
    throw LvError::Last("virConnectDomainEventRegisterAny");
  }
  sink->callbackIds.push_back(cid);
}

void AttachEvents(EventSink* sink, virConnectPtr conn) {
  sink->refs++;
  if (virConnectRegisterCloseCallback(conn, OnClose, sink, FreeCallback) < 0) {
    sink->refs--;
    // drivers without a daemon (test:///) have no close callback: not an error
    virResetLastError();
  } else {
    sink->closeRegistered = true;
  }
  Register(sink, conn, VIR_DOMAIN_EVENT_ID_LIFECYCLE, VIR_DOMAIN_EVENT_CALLBACK(OnLifecycle));
  Register(sink, conn, VIR_DOMAIN_EVENT_ID_JOB_COMPLETED, VIR_DOMAIN_EVENT_CALLBACK(OnJobCompleted));
  Register(sink, conn, VIR_DOMAIN_EVENT_ID_BLOCK_JOB_2, VIR_DOMAIN_EVENT_CALLBACK(OnBlockJob));
}

void DetachEvents(EventSink* sink, virConnectPtr conn) {
  for (int id : sink->callbackIds) {
    virConnectDomainEventDeregisterAny(conn, id);
  }
  sink->callbackIds.clear();
  if (sink->closeRegistered) {
    virConnectUnregisterCloseCallback(conn, OnClose);
    sink->closeRegistered = false;
  }
  virResetLastError();
}

void UnrefEventSink(EventSink* sink) {
  if (--sink->refs == 0) {
    sink->tsfn.Release();
    delete sink;
  }
}

}  // namespace vv
