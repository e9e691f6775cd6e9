# `cpack -G DEB` in a build directory: netcpu_VERSION_ARCH.deb with the CLI,
# the vde_switch plugin where vde_switch finds it by name, the netcpu://
# module in libvdeplug's module directory, libnetcpu_lwip with its headers
# and pkg-config file, the man pages, the examples and the docs. Install with
# `apt-get install ./netcpu_*.deb`. Built for prefix /usr: the plugin and
# module directories are Debian's.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/examples/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
# docs/man holds the man pages' sources: they are installed as man pages.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}
        PATTERN man EXCLUDE)
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})

set(CPACK_PACKAGE_NAME netcpu)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "NetCPU developers <netcpu@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "sandboxed packet-processing VM for VDE switches, cables and lwIPv6 stacks")
set(CPACK_PACKAGE_DESCRIPTION
    "NetCPU runs small verified programs on network packets: filter, count, log, rewrite,\n\
redirect, answer. It provides a vde_switch plugin (netcpu.so), a vdeplug4 module\n\
(netcpu:// cables), a library for per-process lwIPv6 firewalls and the netcpu\n\
command line (assembler, verifier, pcap runner, tcpdump expression translator).")
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
# The shared libraries each binary links (libpcap, libvdeplug, liblwipv6,
# libstdc++), as dpkg-shlibdeps reads them; and what runs the plugin.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "vde2, tcpdump")
include(CPack)
