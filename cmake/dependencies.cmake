# Imported targets for the Debian packages named in ARCHITECTURE.md.
find_package(Threads REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(PkgConfig REQUIRED)

# CAF 0.17.6 ships no CMake config or .pc file.
find_path(CAF_INCLUDE_DIR caf/all.hpp REQUIRED)
find_library(CAF_CORE_LIB caf_core REQUIRED)
add_library(CAF::core UNKNOWN IMPORTED)
set_target_properties(CAF::core PROPERTIES IMPORTED_LOCATION ${CAF_CORE_LIB}
  INTERFACE_INCLUDE_DIRECTORIES ${CAF_INCLUDE_DIR}
  INTERFACE_LINK_LIBRARIES Threads::Threads)

# Standalone Asio is header-only and has no .pc file.
find_path(ASIO_INCLUDE_DIR asio.hpp REQUIRED)
add_library(asio INTERFACE)
target_include_directories(asio SYSTEM INTERFACE ${ASIO_INCLUDE_DIR})
target_link_libraries(asio INTERFACE Threads::Threads)

# llhttp: node-llhttp ships the C sources; compile them as a static library.
find_path(LLHTTP_INCLUDE_DIR llhttp.h PATHS /usr/share/include/llhttp REQUIRED)
find_path(LLHTTP_SOURCE_DIR llhttp.c PATHS /usr/share/llhttp REQUIRED NO_DEFAULT_PATH)
add_library(llhttp STATIC ${LLHTTP_SOURCE_DIR}/llhttp.c ${LLHTTP_SOURCE_DIR}/api.c
                          ${LLHTTP_SOURCE_DIR}/http.c)
target_include_directories(llhttp SYSTEM PUBLIC ${LLHTTP_INCLUDE_DIR})
set_target_properties(llhttp PROPERTIES POSITION_INDEPENDENT_CODE ON C_STANDARD 99)
target_compile_options(llhttp PRIVATE -w)

find_package(simdjson REQUIRED)

pkg_check_modules(LIBPQ REQUIRED IMPORTED_TARGET libpq)
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)
pkg_check_modules(LIBCURL REQUIRED IMPORTED_TARGET libcurl)

find_library(ARGON2_LIB argon2 REQUIRED)
add_library(argon2 UNKNOWN IMPORTED)
set_target_properties(argon2 PROPERTIES IMPORTED_LOCATION ${ARGON2_LIB})

# The content pipeline's sanitizer (nextcrm-worker, sandboxed): libvips,
# qpdf, libmagic, zlib. ClamAV and poppler run as processes (GPL: not linked).
pkg_check_modules(VIPS REQUIRED IMPORTED_TARGET vips)
pkg_check_modules(QPDF REQUIRED IMPORTED_TARGET libqpdf)
pkg_check_modules(LIBMAGIC REQUIRED IMPORTED_TARGET libmagic)
pkg_check_modules(ZLIB REQUIRED IMPORTED_TARGET zlib)
