#include "bridge/core/shared_library.hpp"

#include <dlfcn.h>

namespace reportbridge::core {

SharedLibrary::SharedLibrary(std::string soname, std::string purpose)
    : soname_(std::move(soname)), purpose_(std::move(purpose)) {
  handle_ = ::dlopen(soname_.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle_) {
    const char* why = ::dlerror();
    throw std::runtime_error(soname_ + " (" + purpose_ + ") cannot be loaded: " + (why ? why : "unknown reason") +
                             "; install the package that provides it");
  }
}

void* SharedLibrary::symbol(const char* name) const {
  ::dlerror();
  void* p = ::dlsym(handle_, name);
  if (!p) {
    const char* why = ::dlerror();
    throw std::runtime_error(soname_ + " (" + purpose_ + ") has no symbol " + name + ": " +
                             (why ? why : "null address") + "; is it the version the bridge was built against?");
  }
  return p;
}

bool SharedLibrary::loaded(const std::string& soname) {
  // RTLD_NOLOAD: a handle only if it is already mapped; nothing is loaded.
  void* h = ::dlopen(soname.c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (!h) return false;
  ::dlclose(h);  // drops only the reference RTLD_NOLOAD took
  return true;
}

}  // namespace reportbridge::core
