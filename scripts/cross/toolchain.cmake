# CMake toolchain file for cross-building kvs-edge (engine, addon, C++ tests) against a Debian
# sysroot made by scripts/cross/sysroot.sh. Set by scripts/cross/build.sh:
#   KVS_SYSROOT      the sysroot's path
#   KVS_CROSS_TRIPLE the GNU triple (aarch64-linux-gnu, x86_64-linux-gnu)
set(CMAKE_SYSTEM_NAME Linux)
if(NOT KVS_SYSROOT)
  set(KVS_SYSROOT "$ENV{KVS_SYSROOT}")
endif()
if(NOT KVS_CROSS_TRIPLE)
  set(KVS_CROSS_TRIPLE "$ENV{KVS_CROSS_TRIPLE}")
endif()
if(NOT KVS_SYSROOT OR NOT KVS_CROSS_TRIPLE)
  message(FATAL_ERROR "toolchain.cmake: set KVS_SYSROOT and KVS_CROSS_TRIPLE (scripts/cross/build.sh does)")
endif()
string(REGEX REPLACE "-.*" "" CMAKE_SYSTEM_PROCESSOR "${KVS_CROSS_TRIPLE}")
# Seen by try_compile projects too.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES KVS_SYSROOT KVS_CROSS_TRIPLE)

set(CMAKE_SYSROOT "${KVS_SYSROOT}")
set(CMAKE_C_COMPILER ${KVS_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${KVS_CROSS_TRIPLE}-g++)
set(CMAKE_LIBRARY_ARCHITECTURE ${KVS_CROSS_TRIPLE})

# Headers and libraries only from the sysroot; programs from the host.
set(CMAKE_FIND_ROOT_PATH "${KVS_SYSROOT}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# pkg-config reads the sysroot's .pc files and prefixes their paths with it.
set(ENV{PKG_CONFIG_DIR} "")
set(ENV{PKG_CONFIG_LIBDIR} "${KVS_SYSROOT}/usr/lib/${KVS_CROSS_TRIPLE}/pkgconfig:${KVS_SYSROOT}/usr/lib/pkgconfig:${KVS_SYSROOT}/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "${KVS_SYSROOT}")

# Shared libraries that the sysroot's libraries need are found in it at link time.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-Wl,-rpath-link,${KVS_SYSROOT}/usr/lib/${KVS_CROSS_TRIPLE}")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "-Wl,-rpath-link,${KVS_SYSROOT}/usr/lib/${KVS_CROSS_TRIPLE}")

# Tests run through qemu-user with the sysroot as the dynamic loader's root.
if(NOT CMAKE_HOST_SYSTEM_PROCESSOR STREQUAL CMAKE_SYSTEM_PROCESSOR)
  set(CMAKE_CROSSCOMPILING_EMULATOR qemu-${CMAKE_SYSTEM_PROCESSOR}-static -L ${KVS_SYSROOT})
endif()
