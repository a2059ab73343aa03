# Install layout and the Debian package (CPack). Included by the top-level
# CMakeLists.txt, which installs the binary to bin/.
#
#   cmake --install build --prefix /usr        # as root, onto this machine
#   cmake --build build --target package       # build/reportbridge_<ver>_<arch>.deb
#
# Paths below are relative to the prefix except the config folder, which is
# /etc/reportbridge whatever the prefix (override REPORTBRIDGE_CONFIG_DIR to
# install somewhere unprivileged).
set(REPORTBRIDGE_CONFIG_DIR "/etc/reportbridge" CACHE PATH "Where the daemon config is installed")

set(_rb_share share/reportbridge)
set(_rb_doc share/doc/reportbridge)

# systemd: unit, the service account, the folders.
install(FILES ${PROJECT_SOURCE_DIR}/systemd/reportbridge.service DESTINATION lib/systemd/system)
install(FILES ${PROJECT_SOURCE_DIR}/systemd/reportbridge.sysusers
        DESTINATION lib/sysusers.d RENAME reportbridge.conf)
install(FILES ${PROJECT_SOURCE_DIR}/systemd/reportbridge.tmpfiles
        DESTINATION lib/tmpfiles.d RENAME reportbridge.conf)

# The example config (a conffile in the package: local edits survive upgrades).
install(FILES ${PROJECT_SOURCE_DIR}/systemd/reportbridge.example.yaml
        DESTINATION ${REPORTBRIDGE_CONFIG_DIR} RENAME reportbridge.yaml)

# Mappings, lookups and schemas the example config refers to.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/mappings/ DESTINATION ${_rb_share}/mappings
        FILES_MATCHING PATTERN "*.yaml" PATTERN "*.csv" PATTERN "*.md")
install(DIRECTORY ${PROJECT_SOURCE_DIR}/schemas/ DESTINATION ${_rb_share}/schemas)

# Monitoring: Grafana dashboard and Prometheus alert rules.
install(FILES ${PROJECT_SOURCE_DIR}/ops/grafana-dashboard.json ${PROJECT_SOURCE_DIR}/ops/alerts.yml
        DESTINATION ${_rb_share}/ops)

# Documentation.
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${_rb_doc})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/ DESTINATION ${_rb_doc} FILES_MATCHING PATTERN "*.md")

# --- Debian package ---
set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "reportbridge")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_VENDOR "Reportbridge")
set(CPACK_PACKAGE_CONTACT "Reportbridge maintainers <reportbridge@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "bridge from a public police reporting app to legacy force systems")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "bridge from a public police reporting app to legacy force systems
 Reportbridge polls the reporting app's submission store, validates and maps
 each submission with analyst-owned mapping files, and delivers it to legacy
 force systems (CSV and XML file drops, SOAP), writing a status back to the
 app. It runs as a hardened systemd service with health, readiness and
 Prometheus metrics endpoints.")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${CPACK_PACKAGE_CONTACT}")
set(CPACK_DEBIAN_PACKAGE_SECTION "admin")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# PROJ and libpq are loaded on first use (bridge/core/shared_library.hpp), not
# linked, so dpkg-shlibdeps does not see them: named here, by Debian's rule
# for a library's package (libproj.so.25 -> libproj25). The shipped RMS
# mappings use `bng`; the PostgreSQL state is a config away.
set(_rb_dlopened "")
foreach(_soname IN ITEMS ${REPORTBRIDGE_PROJ_SONAME} ${REPORTBRIDGE_LIBPQ_SONAME})
  string(REGEX REPLACE "\\.so\\.([0-9]+)$" "\\1" _pkg "${_soname}")
  list(APPEND _rb_dlopened "${_pkg}")
endforeach()
list(JOIN _rb_dlopened ", " CPACK_DEBIAN_PACKAGE_DEPENDS)
set(CPACK_STRIP_FILES ON)  # debug info stays in the build tree
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "systemd")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

# Maintainer scripts: create the account and folders, reload systemd. The
# service is not enabled or started: the config must be edited first.
set(_rb_deb ${PROJECT_BINARY_DIR}/debian)
file(MAKE_DIRECTORY ${_rb_deb})
file(WRITE ${_rb_deb}/conffiles "${REPORTBRIDGE_CONFIG_DIR}/reportbridge.yaml\n")
configure_file(${CMAKE_CURRENT_LIST_DIR}/debian/postinst ${_rb_deb}/postinst COPYONLY)
configure_file(${CMAKE_CURRENT_LIST_DIR}/debian/prerm ${_rb_deb}/prerm COPYONLY)
configure_file(${CMAKE_CURRENT_LIST_DIR}/debian/postrm ${_rb_deb}/postrm COPYONLY)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${_rb_deb}/conffiles;${_rb_deb}/postinst;${_rb_deb}/prerm;${_rb_deb}/postrm")

include(CPack)
