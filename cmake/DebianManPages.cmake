# CPack pre-build script (CPACK_PRE_BUILD_SCRIPTS): gzip every man page in the
# package's staging tree as Debian policy 12.1 asks, `gzip -9n` (no file name
# or time stamp inside, so the package is reproducible).
file(GLOB_RECURSE staged_man_pages "${CPACK_TEMPORARY_INSTALL_DIRECTORY}/*/share/man/man[1-9]/*.[1-9]")
if(NOT staged_man_pages)
  message(FATAL_ERROR "DebianManPages.cmake: no man pages under ${CPACK_TEMPORARY_INSTALL_DIRECTORY}")
endif()
foreach(page IN LISTS staged_man_pages)
  execute_process(COMMAND gzip -9nf "${page}" RESULT_VARIABLE gzip_status)
  if(NOT gzip_status EQUAL 0)
    message(FATAL_ERROR "DebianManPages.cmake: gzip ${page} failed")
  endif()
endforeach()
