# Writes <build>/generated/buildinfo_gen.c (include/vgsweep/buildinfo.h's values) at every
# build, only when its text changes, so an unchanged tree recompiles nothing and a commit or an
# edit is in the next binary's provenance. Run by the target vg_buildinfo:
#   cmake -DVG_SOURCE_DIR=<tree> -DVG_BINARY_DIR=<build> -DVG_OUT=<file.c> -P buildinfo.cmake
# Configure-time values come from <build>/generated/buildinfo_config.cmake.
#
# The revision: `git rev-parse HEAD` when VG_SOURCE_DIR is the top of a git work tree (not
# merely inside one: a tarball unpacked in another repository's folder is not that
# repository's revision), dirty when `git status` lists a changed tracked file; else the
# revision cmake/git-revision carries when the tree was made by `git archive` (export-subst,
# .gitattributes), with dirty unknown; else "unknown".
# The flags: the command CMake gives the compiler for VG_FLAGS_SOURCE (compile_commands.json),
# without the compiler, include directories, dependency-file options, -o, -c and the file;
# VG_FALLBACK_FLAGS (the build type's flags, from configure) where there is no such file.
cmake_minimum_required(VERSION 3.25)
include("${VG_BINARY_DIR}/generated/buildinfo_config.cmake")

set(revision "unknown")
set(dirty -1)
if(VG_GIT AND EXISTS "${VG_SOURCE_DIR}/.git")
  execute_process(COMMAND "${VG_GIT}" rev-parse --show-toplevel HEAD
                  WORKING_DIRECTORY "${VG_SOURCE_DIR}" OUTPUT_VARIABLE out
                  RESULT_VARIABLE rc ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(rc EQUAL 0)
    string(REPLACE "\n" ";" out "${out}")
    list(GET out 0 top)
    list(GET out 1 head)
    file(REAL_PATH "${top}" top)
    file(REAL_PATH "${VG_SOURCE_DIR}" here)
    if(top STREQUAL here AND head MATCHES "^[0-9a-f]+$")
      set(revision "${head}")
      execute_process(COMMAND "${VG_GIT}" --no-optional-locks status --porcelain --untracked-files=no
                      WORKING_DIRECTORY "${VG_SOURCE_DIR}" OUTPUT_VARIABLE changes
                      RESULT_VARIABLE rc ERROR_QUIET)
      if(rc EQUAL 0)
        if(changes STREQUAL "")
          set(dirty 0)
        else()
          set(dirty 1)
        endif()
      endif()
    endif()
  endif()
elseif(EXISTS "${VG_SOURCE_DIR}/cmake/git-revision")
  file(STRINGS "${VG_SOURCE_DIR}/cmake/git-revision" archived LIMIT_COUNT 1)
  if(archived MATCHES "^[0-9a-f]+$") # "$Format:%H$" until git archive substitutes it
    set(revision "${archived}")
  endif()
endif()

set(flags "${VG_FALLBACK_FLAGS}")
if(EXISTS "${VG_BINARY_DIR}/compile_commands.json")
  file(READ "${VG_BINARY_DIR}/compile_commands.json" db)
  string(JSON n LENGTH "${db}")
  math(EXPR last "${n} - 1")
  foreach(i RANGE ${last})
    string(JSON file GET "${db}" ${i} file)
    if(file MATCHES "/${VG_FLAGS_SOURCE}$")
      string(JSON command GET "${db}" ${i} command)
      separate_arguments(words UNIX_COMMAND "${command}")
      list(POP_FRONT words) # the compiler
      set(kept "")
      set(skip 0)
      foreach(w IN LISTS words)
        if(skip)
          set(skip 0)
        elseif(w MATCHES "^-(o|MF|MT|MQ|isystem|I|include)$")
          set(skip 1)
        elseif(w MATCHES "^-(I|isystem|MF|MT|MQ)" OR w MATCHES "^-(c|MD|MMD)$" OR w STREQUAL file
               OR w MATCHES "/${VG_FLAGS_SOURCE}$")
        else()
          list(APPEND kept "${w}")
        endif()
      endforeach()
      list(JOIN kept " " flags)
      break()
    endif()
  endforeach()
endif()
string(REGEX REPLACE "[ \t]+" " " flags "${flags}")
string(STRIP "${flags}" flags)

set(sanitizers "")
string(REGEX MATCHALL "(^| )-fsanitize=[^ ]+" found "${flags}")
foreach(f IN LISTS found)
  string(REGEX REPLACE "^ ?-fsanitize=" "" f "${f}")
  string(REPLACE "," ";" f "${f}")
  list(APPEND sanitizers ${f})
endforeach()
list(REMOVE_DUPLICATES sanitizers)
list(JOIN sanitizers "," sanitizers)
if(sanitizers STREQUAL "")
  set(sanitizers "none")
endif()

# C string literals: backslashes and quotes escaped.
foreach(v VG_VERSION revision VG_BUILD_TYPE VG_COMPILER flags sanitizers)
  string(REPLACE "\\" "\\\\" ${v}_c "${${v}}")
  string(REPLACE "\"" "\\\"" ${v}_c "${${v}_c}")
endforeach()
set(text "/* Generated at build time by cmake/buildinfo.cmake: do not edit. */
#include \"vgsweep/buildinfo.h\"

extern const vg_buildinfo vg__buildinfo;
const vg_buildinfo vg__buildinfo = {
    .version = \"${VG_VERSION_c}\",
    .git_revision = \"${revision_c}\",
    .git_dirty = ${dirty},
    .build_type = \"${VG_BUILD_TYPE_c}\",
    .compiler = \"${VG_COMPILER_c}\",
    .c_flags = \"${flags_c}\",
    .sanitizers = \"${sanitizers_c}\",
};
")
set(old "")
if(EXISTS "${VG_OUT}")
  file(READ "${VG_OUT}" old)
endif()
if(NOT old STREQUAL text)
  file(WRITE "${VG_OUT}" "${text}")
endif()
