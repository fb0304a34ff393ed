# Every dependency comes from Debian. A missing one stops the configure step with the
# name of the Debian package that provides it (scripts/install-deps.sh installs them all).
find_package(PkgConfig QUIET)
if(NOT PKG_CONFIG_FOUND)
  message(FATAL_ERROR "pkg-config not found: install the Debian package 'pkg-config' "
                      "(or run scripts/install-deps.sh)")
endif()

function(xchg_require_pkg target module debpkg)
  pkg_check_modules(${target} QUIET IMPORTED_TARGET GLOBAL ${module})
  if(NOT ${target}_FOUND)
    message(FATAL_ERROR "${module} not found: install the Debian package '${debpkg}' "
                        "(or run scripts/install-deps.sh)")
  endif()
  message(STATUS "Found ${module} ${${target}_VERSION}")
endfunction()

xchg_require_pkg(SODIUM     libsodium     libsodium-dev)
xchg_require_pkg(OPENSSL    libcrypto     libssl-dev)
xchg_require_pkg(SQLCIPHER  sqlcipher     libsqlcipher-dev)
xchg_require_pkg(CURL       libcurl       libcurl4-openssl-dev)
xchg_require_pkg(UTF8PROC   libutf8proc   libutf8proc-dev)
xchg_require_pkg(YAML       yaml-0.1      libyaml-dev)
xchg_require_pkg(JANSSON    jansson       libjansson-dev)
xchg_require_pkg(MHD        libmicrohttpd libmicrohttpd-dev)
xchg_require_pkg(OPENSSL_SSL libssl       libssl-dev)

# libcsv ships no pkg-config file on Debian.
find_path(CSV_INCLUDE_DIR csv.h)
find_library(CSV_LIBRARY NAMES csv)
if(NOT CSV_INCLUDE_DIR OR NOT CSV_LIBRARY)
  message(FATAL_ERROR "libcsv not found: install the Debian package 'libcsv-dev' "
                      "(or run scripts/install-deps.sh)")
endif()
add_library(xchg_csv INTERFACE)
target_include_directories(xchg_csv INTERFACE ${CSV_INCLUDE_DIR})
target_link_libraries(xchg_csv INTERFACE ${CSV_LIBRARY})
message(STATUS "Found libcsv ${CSV_LIBRARY}")

if(XCHG_TESTS)
  xchg_require_pkg(CMOCKA cmocka libcmocka-dev)
endif()

find_package(Threads REQUIRED)
