#pragma once
// A shared library loaded when it is first needed (dlopen), for the
// dependencies only some configurations use: PROJ, for the `bng` mapping
// function, and libpq, for the PostgreSQL state. Linked normally, each was
// mapped and initialised in every process: PROJ brings libcurl, GnuTLS,
// p11-kit, libtiff and ten more (~5 MiB of resident pages at start), libpq
// Kerberos, LDAP and SASL (~0.9 MiB); see docs/performance.md, change 9.
//
// A library is opened once and kept for the life of the process (never
// dlclose'd: PROJ and libpq keep thread-local and at-exit state).
#include <stdexcept>
#include <string>

namespace reportbridge::core {

class SharedLibrary {
 public:
  // Opens `soname` (RTLD_NOW | RTLD_LOCAL). `purpose` says what needs it, for
  // the error: "libproj.so.25 (PROJ, needed by the `bng` mapping function)
  // cannot be loaded: <the loader's reason>; install the package that provides it".
  SharedLibrary(std::string soname, std::string purpose);
  SharedLibrary(const SharedLibrary&) = delete;
  SharedLibrary& operator=(const SharedLibrary&) = delete;

  // The address of `name`; throws std::runtime_error naming the symbol and
  // the library when it has no such symbol (an incompatible version).
  void* symbol(const char* name) const;

  // Binds a function pointer: `lib.bind(api.proj_trans, "proj_trans")`.
  template <class F>
  void bind(F& fn, const char* name) const {
    fn = reinterpret_cast<F>(symbol(name));
  }

  // Whether a library with this soname is mapped into the process now (tests).
  static bool loaded(const std::string& soname);

 private:
  std::string soname_;
  std::string purpose_;
  void* handle_ = nullptr;
};

}  // namespace reportbridge::core

// A library's functions, looked up when first used:
//   #define PROJ_FUNCTIONS(X) X(proj_trans) X(proj_destroy)
//   REPORTBRIDGE_SHARED_LIBRARY_API(ProjApi, proj, PROJ_FUNCTIONS, "libproj.so.25", "PROJ, ...")
// defines `struct ProjApi`, one pointer per function (typed from the library's
// header, bound from the soname when constructed), and `const ProjApi& proj()`,
// which loads it once; a failed load throws and is tried again on the next call.
// Called as `proj().proj_trans(...)`. Use it inside an anonymous namespace.
#define REPORTBRIDGE_SHARED_LIBRARY_API(Name, accessor, FUNCTIONS, soname, purpose) \
  struct Name {                                                                     \
    FUNCTIONS(REPORTBRIDGE_SHARED_LIBRARY_POINTER_)                                 \
    ::reportbridge::core::SharedLibrary lib{soname, purpose};                       \
    Name() { FUNCTIONS(REPORTBRIDGE_SHARED_LIBRARY_BIND_) }                         \
  };                                                                                \
  const Name& accessor() {                                                          \
    static const Name api;                                                          \
    return api;                                                                     \
  }
#define REPORTBRIDGE_SHARED_LIBRARY_POINTER_(fn) decltype(&::fn) fn = nullptr;
#define REPORTBRIDGE_SHARED_LIBRARY_BIND_(fn) lib.bind(fn, #fn);
