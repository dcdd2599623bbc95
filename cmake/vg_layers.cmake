# The architecture as data: one row per stage (src/<stage>/ is one CMake library, vg_<stage>),
# read by the top CMakeLists.txt (what each library links) and by cmake/check_layers.cmake
# (which fails the build on an include across a forbidden boundary). docs/ARCHITECTURE.md
# shows this table; change both together.
#
# Columns, separated by |:
#   stage      src/<stage>/, the library vg_<stage>
#   headers    its public headers: include/vgsweep/<name>.h (every public header is in exactly
#              one row; a new header needs its row here or the build fails naming it)
#   public     stages its public headers include (linked PUBLIC: a user of this stage gets them)
#   private    further stages only its sources include (linked PRIVATE)
#   libraries  outside libraries it may include and links (see VG_LAYER_LIBRARIES below)
# A stage's sources may include its own headers and those of its public and private stages;
# its public headers only its own and those of its public stages. A stage's private headers
# (src/<stage>/*.h, included as "<stage>/x.h" or "x.h") are its own: no other stage includes
# them, except as listed in VG_LAYER_EXCEPTIONS.
set(VG_LAYERS
  # stage | headers                        | public                   | private                        | libraries
  "util   | error files rng team buildinfo |                          |                                |"
  "config | config settings targets        | util                     |                                | yaml"
  "data   | data                           | util config              |                                | zlib openmp"
  "nn     | nn model gradcheck rnn         | util config              |                                | blas"
  "record | record reader contract         | util config              | nn                             | hdf5 zlib"
  "train  | train                          | util config data record  | nn                             |"
  "report | report theory                  | util config record       |                                |"
  "sched  | sched membudget                | util config train record | data                           | openmp"
  "cli    |                                |                          | util config data train record report sched | yaml openmp"
)

# Outside libraries: name | the headers that are its own (a regular expression on <...>).
# HDF5 is touched in one place (src/record) - this is what keeps it so.
set(VG_LAYER_LIBRARIES
  "hdf5   | ^(hdf5|hdf5_hl|H5[A-Za-z0-9_]*)[.]h$"
  "yaml   | ^yaml[.]h$"
  "zlib   | ^zlib[.]h$"
  "blas   | ^(cblas|openblas_config)[.]h$"
  "openmp | ^omp[.]h$"
)

# Private headers another stage may include: stage | header | why. Each is a debt to pay by
# making the header public (or moving the code), not a pattern to copy.
set(VG_LAYER_EXCEPTIONS
  "data  | config/internal.h | csv.c uses config's number parsers (vg__parse_double, ...)"
  "train | nn/gemm.h         | the memory estimate counts the matrix kernel's panel (vg__sgemm_work_floats)"
)

# vg_layer_parse(ROW PREFIX): splits one row of VG_LAYERS into PREFIX_stage, PREFIX_headers,
# PREFIX_public, PREFIX_private, PREFIX_libraries (the last four as lists).
function(vg_layer_parse row prefix)
  string(REPLACE "|" ";" cols "${row}")
  set(names stage headers public private libraries)
  foreach(i RANGE 4)
    list(GET names ${i} name)
    list(LENGTH cols n)
    set(value "")
    if(i LESS n)
      list(GET cols ${i} value)
    endif()
    string(STRIP "${value}" value)
    string(REGEX REPLACE "[ \t]+" ";" value "${value}")
    set(${prefix}_${name} "${value}" PARENT_SCOPE)
  endforeach()
endfunction()
