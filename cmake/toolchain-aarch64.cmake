# Cross-compiles lastcall for linux/arm64 on an amd64 Debian 12 with Debian's cross toolchain
# (g++-aarch64-linux-gnu: its own libc and libstdc++ under /usr/aarch64-linux-gnu) and the arm64
# builds of the libraries lastcall links, unpacked into a directory of their own
# (LASTCALL_TARGET_LIBS, default build-static-arm64/target-libs; scripts/cross-deps.sh fills it).
# They are unpacked, not installed: libyaml-cpp-dev is not Multi-Arch: same, so installing its
# arm64 build would remove the amd64 one the native build needs.
#   cmake -S . -B build-static-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64.cmake ...
# scripts/build-static.sh --arch arm64 does all of it.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

if(NOT LASTCALL_TARGET_LIBS)
  if(DEFINED ENV{LASTCALL_TARGET_LIBS})
    set(LASTCALL_TARGET_LIBS "$ENV{LASTCALL_TARGET_LIBS}")
  else()
    set(LASTCALL_TARGET_LIBS "${CMAKE_CURRENT_LIST_DIR}/../build-static-arm64/target-libs")
  endif()
endif()
# try_compile projects read this file again: pass the directory on to them.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES LASTCALL_TARGET_LIBS)

# Libraries and packages (CMake configs) come from the arm64 directories only, so nothing links
# an amd64 archive; headers may come from the host too (those lastcall uses are the same on every
# architecture, and the header-only packages nlohmann-json and CLI11 are Architecture: all).
set(CMAKE_FIND_ROOT_PATH "${LASTCALL_TARGET_LIBS}" /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

# pkg-config (pkg_check_modules) must read the arm64 .pc files and prefix their paths.
set(ENV{PKG_CONFIG_LIBDIR}
  "${LASTCALL_TARGET_LIBS}/usr/lib/aarch64-linux-gnu/pkgconfig:${LASTCALL_TARGET_LIBS}/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "${LASTCALL_TARGET_LIBS}")
