# De-identification module build additions: the PS3.15 rule table generated at build time from
# data/deid/ (Table E.1-1 from innolitics, Table E.3.10-1 subset; see data/deid/MANIFEST.md) by
# scripts/deid-gentable.py.
set(deid_gen_dir ${CMAKE_BINARY_DIR}/gen/deid)
file(MAKE_DIRECTORY ${deid_gen_dir})
add_custom_command(
  OUTPUT ${deid_gen_dir}/deid_table.c
  COMMAND ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/scripts/deid-gentable.py
          ${CMAKE_SOURCE_DIR}/data/deid/innolitics-confidentiality_profile_attributes.json
          ${CMAKE_SOURCE_DIR}/data/deid/safe_private.tsv ${deid_gen_dir}/deid_table.c
  DEPENDS ${CMAKE_SOURCE_DIR}/scripts/deid-gentable.py
          ${CMAKE_SOURCE_DIR}/data/deid/innolitics-confidentiality_profile_attributes.json
          ${CMAKE_SOURCE_DIR}/data/deid/safe_private.tsv
  COMMENT "Generating the PS3.15 de-identification table"
  VERBATIM)
list(APPEND MS_GEN_SRCS ${deid_gen_dir}/deid_table.c)
set_source_files_properties(${deid_gen_dir}/deid_table.c PROPERTIES GENERATED TRUE)

