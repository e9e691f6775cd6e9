# netcpu_packets: the packet builder for tools, tests and benchmarks; and
# netcpu-genpcaps, which writes the bundled captures in examples/pcaps.
# Paths go through CMAKE_CURRENT_LIST_DIR so that this file works wherever it
# is include()d from.
find_library(PCAP_LIBRARY pcap REQUIRED)

add_library(netcpu_packets STATIC ${CMAKE_CURRENT_LIST_DIR}/packet_builder.cpp)
target_include_directories(netcpu_packets PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(netcpu_packets PUBLIC netcpu ${PCAP_LIBRARY})

add_executable(netcpu-genpcaps ${CMAKE_CURRENT_LIST_DIR}/gen_pcaps.cpp)
target_link_libraries(netcpu-genpcaps PRIVATE netcpu_packets)

# Not part of "all": the captures are committed, and regenerating them must
# give the same bytes (see tests/tools/packet_builder_test.cpp).
add_custom_target(netcpu-regen-pcaps
  COMMAND netcpu-genpcaps ${PROJECT_SOURCE_DIR}/examples/pcaps
  COMMENT "Regenerating examples/pcaps")
