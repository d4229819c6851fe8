# src/phi: generates the dictionary tables from data/names/ (scripts/phi-gendict.py).
set(_phi_gen ${CMAKE_BINARY_DIR}/gen/phi/phi_dict.c)
file(GLOB _phi_data CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/data/names/*.txt
     ${CMAKE_SOURCE_DIR}/data/phi/*.txt)
add_custom_command(
  OUTPUT ${_phi_gen}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/gen/phi
  COMMAND ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/scripts/phi-gendict.py
          ${CMAKE_SOURCE_DIR}/data/names ${_phi_gen}
  DEPENDS ${_phi_data} ${CMAKE_SOURCE_DIR}/scripts/phi-gendict.py
  COMMENT "phi: generating dictionary tables")
list(APPEND MS_GEN_SRCS ${_phi_gen})
set_source_files_properties(${_phi_gen} PROPERTIES COMPILE_OPTIONS "-O1")
