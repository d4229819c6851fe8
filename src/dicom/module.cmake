# DICOM module build additions: the data dictionary C table generated at build time from
# data/dicom/dicom.dic (DCMTK's dictionary) and data/dicom/private.tsv (pydicom's private dictionary,
# see data/dicom/MANIFEST.md) by scripts/gen-dicom-dict.py.
set(dcm_gen_dir ${CMAKE_BINARY_DIR}/gen/dicom)
file(MAKE_DIRECTORY ${dcm_gen_dir})
add_custom_command(
  OUTPUT ${dcm_gen_dir}/dict_gen.c
  COMMAND ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/scripts/gen-dicom-dict.py
          ${CMAKE_SOURCE_DIR}/data/dicom/dicom.dic ${dcm_gen_dir}/dict_gen.c
          ${CMAKE_SOURCE_DIR}/data/dicom/private.tsv
  DEPENDS ${CMAKE_SOURCE_DIR}/scripts/gen-dicom-dict.py ${CMAKE_SOURCE_DIR}/data/dicom/dicom.dic
          ${CMAKE_SOURCE_DIR}/data/dicom/private.tsv
  COMMENT "Generating the DICOM dictionary"
  VERBATIM)
list(APPEND MS_GEN_SRCS ${dcm_gen_dir}/dict_gen.c)
set_source_files_properties(${dcm_gen_dir}/dict_gen.c PROPERTIES GENERATED TRUE)
