// libvirt's default event loop on its own thread, and per-connection event delivery to JS.
#pragma once

#include <libvirt/libvirt.h>
#include <napi.h>

namespace vv {

struct EventSink;

/** virEventRegisterDefaultImpl once per process, then virEventRunDefaultImpl forever on a thread. */
void StartEventLoop();

/** A sink calling `callback(event)` on the JS thread; does not keep the process alive (JS thread). */
EventSink* NewEventSink(Napi::Env env, Napi::Function callback);
/** Registers close, lifecycle, job-completed and block-job callbacks (pool thread; throws LvError). */
void AttachEvents(EventSink* sink, virConnectPtr conn);
/** Deregisters what AttachEvents registered (pool thread; errors ignored: the daemon may be gone). */
void DetachEvents(EventSink* sink, virConnectPtr conn);
/** Drops the owner's reference; the thread-safe function is released once libvirt freed its own. */
void UnrefEventSink(EventSink* sink);

}  // namespace vv
