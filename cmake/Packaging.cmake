# The Debian package: `cpack -G DEB` in a build directory. Included from the
# top-level CMakeLists.txt after every install() rule, so that the package
# holds exactly what `cmake --install` installs, plus the bash completions
# below, with man pages gzip'd at packaging time (see DebianManPages.cmake).

# Bash completions: one shared script, and one file per tool under the tool's
# name, because bash-completion loads a command's completion from the file
# named after it. The per-tool files are symbolic links to the shared script,
# made in the build tree and installed as links.
set(SENDCHECK_COMPLETIONS_DIR ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/bash-completion/sendcheck DESTINATION ${SENDCHECK_COMPLETIONS_DIR})
get_property(sendcheck_tool_targets DIRECTORY ${PROJECT_SOURCE_DIR}/tools PROPERTY BUILDSYSTEM_TARGETS)
list(FILTER sendcheck_tool_targets INCLUDE REGEX "^sendcheck-")
set(completion_links_dir ${PROJECT_BINARY_DIR}/packaging/bash-completion)
file(MAKE_DIRECTORY ${completion_links_dir})
foreach(tool_target IN LISTS sendcheck_tool_targets)
  file(CREATE_LINK sendcheck ${completion_links_dir}/${tool_target} SYMBOLIC)
  install(FILES ${completion_links_dir}/${tool_target} DESTINATION ${SENDCHECK_COMPLETIONS_DIR})
endforeach()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME sendcheck)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "sendcheck developers <dev@sendcheck.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "check that devices can still send mail into Microsoft 365")
set(CPACK_PACKAGE_DESCRIPTION
    "sendcheck answers, from a device's own network, whether a printer, scanner or\n"
    "application will still get its mail into Microsoft 365 by direct send, an\n"
    "inbound connector or SMTP AUTH with OAuth, and says what to change when it\n"
    "will not: MX, SPF, DMARC, DNS blocklists, SMTP, STARTTLS and certificates,\n"
    "and the meaning of SMTP replies and bounces.")
string(REPLACE ";" "" CPACK_PACKAGE_DESCRIPTION "${CPACK_PACKAGE_DESCRIPTION}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# Release packages carry no debug information (the build type is
# RelWithDebInfo by default).
set(CPACK_STRIP_FILES ON)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # sendcheck_0.1.0_amd64.deb
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# dpkg-shlibdeps (dpkg-dev) computes the libraries the tools link:
# libc6, libc-ares2, libssl3, libstdc++6, libgcc-s1.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# libcurl is loaded with dlopen (libdiag/include/diag/curl_runtime.h), which
# dpkg-shlibdeps cannot see, so it is named here. Depends, not Recommends:
# the client-credentials OAuth token is how a device keeps submitting once
# basic SMTP AUTH is gone, the very case sendcheck is for, and Recommends are
# left out by `apt-get install --no-install-recommends` (containers, our own
# scripts/install-deps). Without libcurl the tools still run and say what is
# missing; the dependency is for the package to do its job out of the box.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libcurl4")

# Debian policy 12.1: man pages are installed gzip'd with -9n. `cmake
# --install` keeps them plain (as upstream installs do, and as the
# install_layout test checks); this script compresses them in the package's
# staging tree only.
set(CPACK_PRE_BUILD_SCRIPTS ${CMAKE_CURRENT_LIST_DIR}/DebianManPages.cmake)

include(CPack)
