// Shared helpers of the N-API wrappers: the two kinds of error that cross into JavaScript
// (usage -> TypeError, runtime -> Error with a code) and the registry of live objects that the
// environment cleanup closes before Node tears down.
#pragma once
#include <napi.h>

#include <functional>
#include <string>

namespace kvs::addon {

[[noreturn]] void throw_type_error(Napi::Env env, const std::string& message);
Napi::Error make_error(Napi::Env env, const std::string& code, const std::string& message);

// Closers run (once) at environment cleanup, so no native thread outlives the JS environment.
using Closer = std::function<void()>;
int register_closer(Closer closer);
Napi::Object init(Napi::Env env, Napi::Object exports);
void unregister_closer(int handle);

}  // namespace kvs::addon
