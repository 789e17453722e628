#----------------------------------------------------------------
# Generated CMake target import file for configuration "RelWithDebInfo".
#----------------------------------------------------------------

# Commands may need to know the format version.
set(CMAKE_IMPORT_FILE_VERSION 1)

# Import target "uzram::uzram" for configuration "RelWithDebInfo"
set_property(TARGET uzram::uzram APPEND PROPERTY IMPORTED_CONFIGURATIONS RELWITHDEBINFO)
set_target_properties(uzram::uzram PROPERTIES
  IMPORTED_LOCATION_RELWITHDEBINFO "${_IMPORT_PREFIX}/lib/libuzram.so.0.1.0"
  IMPORTED_SONAME_RELWITHDEBINFO "libuzram.so.0"
  )

list(APPEND _cmake_import_check_targets uzram::uzram )
list(APPEND _cmake_import_check_files_for_uzram::uzram "${_IMPORT_PREFIX}/lib/libuzram.so.0.1.0" )

# Import target "uzram::uzram_static" for configuration "RelWithDebInfo"
set_property(TARGET uzram::uzram_static APPEND PROPERTY IMPORTED_CONFIGURATIONS RELWITHDEBINFO)
set_target_properties(uzram::uzram_static PROPERTIES
  IMPORTED_LINK_INTERFACE_LANGUAGES_RELWITHDEBINFO "CXX"
  IMPORTED_LOCATION_RELWITHDEBINFO "${_IMPORT_PREFIX}/lib/libuzram.a"
  )

list(APPEND _cmake_import_check_targets uzram::uzram_static )
list(APPEND _cmake_import_check_files_for_uzram::uzram_static "${_IMPORT_PREFIX}/lib/libuzram.a" )

# Commands beyond this point should not need to know the version.
set(CMAKE_IMPORT_FILE_VERSION)
