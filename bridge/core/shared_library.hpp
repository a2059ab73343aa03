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

  const std::string& soname() const { return soname_; }

  // The address of `name`; throws std::runtime_error naming the symbol and
  // the library when it has no such symbol (an incompatible version).
  void* symbol(const char* name) const;

  // Binds a function pointer: `lib.bind(api.proj_trans, "proj_trans")`.
  template <class F>
  void bind(F& fn, const char* name) const {
    fn = reinterpret_cast<F>(symbol(name));
  }

  // Whether a library with this soname is mapped into the process now (for
  // tests and `reportbridge version`-style diagnostics).
  static bool loaded(const std::string& soname);

 private:
  std::string soname_;
  std::string purpose_;
  void* handle_ = nullptr;
};

}  // namespace reportbridge::core
