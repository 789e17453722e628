# Install rules: the libraries, the public headers, the uzram command, a
# pkg-config file and a CMake package config.
include(CMakePackageConfigHelpers)

install(TARGETS uzram uzram_static EXPORT uzramTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/uzram DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

install(EXPORT uzramTargets NAMESPACE uzram:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/uzram)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/uzramConfig.cmake.in
  ${PROJECT_BINARY_DIR}/uzramConfig.cmake INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/uzram)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/uzramConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/uzramConfig.cmake ${PROJECT_BINARY_DIR}/uzramConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/uzram)

# The .pc file finds its prefix from where it lies, so that an install with
# `cmake --install --prefix DIR` works as well as the configured prefix.
file(RELATIVE_PATH UZRAM_PC_TO_PREFIX "/root/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/root")
configure_file(${PROJECT_SOURCE_DIR}/cmake/uzram.pc.in ${PROJECT_BINARY_DIR}/uzram.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/uzram.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
