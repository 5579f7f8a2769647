# Install rules: `cmake --install <build> [--prefix P]` puts in place
#   bin/hibiki                              the program (component runtime; the chat page is
#                                           built into it, so no web assets are installed)
#   share/man/man1/hibiki.1                 its manual page (component runtime)
#   include/hibiki/*.hpp                    the public API (component dev)
#   LIB/libhibiki.a, libhibiki_cluster.a    the library and the cluster bus; the layers below the
#   LIB/libhibiki_protocol.a, _net.a        public API are linked through the exported targets
#   LIB/cmake/hibiki/                       find_package(hibiki CONFIG): hibiki::hibiki,
#                                           hibiki::cluster
#   LIB/pkgconfig/hibiki.pc, hibiki-cluster.pc
# where LIB is lib/<multiarch> on Debian (lib/x86_64-linux-gnu), else lib.
# Libraries go to Debian's multiarch directory (lib/x86_64-linux-gnu) under any prefix, as the
# package has them; GNUInstallDirs would do so only for /usr. Both pkg-config and find_package
# search it.
if(CMAKE_LIBRARY_ARCHITECTURE AND NOT DEFINED CACHE{CMAKE_INSTALL_LIBDIR})
  set(CMAKE_INSTALL_LIBDIR lib/${CMAKE_LIBRARY_ARCHITECTURE}
      CACHE PATH "Object code libraries (lib/<multiarch>)")
endif()
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(HIBIKI_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/hibiki)

install(TARGETS hibiki_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
configure_file(${PROJECT_SOURCE_DIR}/docs/hibiki.1.in ${PROJECT_BINARY_DIR}/hibiki.1 @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/hibiki.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1
        COMPONENT runtime)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/hibiki
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        COMPONENT dev
        FILES_MATCHING PATTERN "*.hpp")

# The internal layers are static archives the public targets link; they are exported under
# detail_ names so the link works, not for consumers to use.
set_target_properties(hibiki_protocol PROPERTIES EXPORT_NAME detail_protocol)
set_target_properties(hibiki_net PROPERTIES EXPORT_NAME detail_net)
install(TARGETS hibiki_server hibiki_cluster hibiki_protocol hibiki_net
        EXPORT hibikiTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev)
install(EXPORT hibikiTargets
        NAMESPACE hibiki::
        DESTINATION ${HIBIKI_CMAKE_DIR}
        COMPONENT dev)

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/hibikiConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/hibikiConfig.cmake
                              INSTALL_DESTINATION ${HIBIKI_CMAKE_DIR})
# 0.x: a minor version may break the API, so 0.1 accepts 0.1.* only.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/hibikiConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION}
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/hibikiConfig.cmake
              ${PROJECT_BINARY_DIR}/hibikiConfigVersion.cmake
        DESTINATION ${HIBIKI_CMAKE_DIR}
        COMPONENT dev)

# pkg-config files. The prefix is only known at install time (`cmake --install --prefix`), so
# the files are written then, from templates configured now with everything else.
foreach(pc hibiki hibiki-cluster)
  configure_file(${PROJECT_SOURCE_DIR}/cmake/${pc}.pc.in ${PROJECT_BINARY_DIR}/pkgconfig/${pc}.pc.in
                 @ONLY)
  install(CODE "
    file(READ \"${PROJECT_BINARY_DIR}/pkgconfig/${pc}.pc.in\" pc_text)
    string(REPLACE \"%PREFIX%\" \"\${CMAKE_INSTALL_PREFIX}\" pc_text \"\${pc_text}\")
    file(WRITE \"${PROJECT_BINARY_DIR}/pkgconfig/${pc}.pc\" \"\${pc_text}\")
    file(INSTALL \"${PROJECT_BINARY_DIR}/pkgconfig/${pc}.pc\"
         DESTINATION \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/pkgconfig\"
         FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  " COMPONENT dev)
endforeach()
