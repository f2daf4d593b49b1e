// probeV4l2 and benchEncoder (media_tools.cpp).
#pragma once
#include <napi.h>

namespace kvs::addon {
void init_media_tools(Napi::Env env, Napi::Object exports);
}
