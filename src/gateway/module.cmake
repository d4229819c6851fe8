# Gateway: seams.c calls the modules the gateway composes only when their implementation is in the
# tree (a module may still be a header-only contract while the others are written). A module
# counts as present when every function the seam uses is defined in src/<module>/*.c; the scanned
# files are configure dependencies, so the build re-checks when they change.
set(_gw_defs "")
function(_gw_probe var dir)
  file(GLOB _srcs ${CMAKE_SOURCE_DIR}/src/${dir}/*.c)
  set(_all "")
  foreach(f ${_srcs})
    file(READ ${f} _c)
    string(APPEND _all "${_c}")
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${f})
  endforeach()
  set(_ok 1)
  foreach(sym ${ARGN})
    string(REGEX MATCH "\n[a-z_ ]+[ *]${sym}\\(" _m "${_all}")
    if(NOT _m)
      set(_ok 0)
    endif()
  endforeach()
  set(${var} ${_ok} PARENT_SCOPE)
endfunction()
_gw_probe(_phi phi phi_ctx_new phi_ctx_free phi_scrub phi_ctx_counts phi_class_name
          phi_reidentify phi_reid_new phi_reid_feed phi_reid_flush phi_reid_free)
_gw_probe(_dicom dicom dcm_file_read_mem dcm_file_free)
_gw_probe(_analyst analyst an_report_new an_report_free an_add_text an_add_study an_run
          an_report_json an_report_text)
_gw_probe(_audit audit audit_log_open audit_log_append audit_log_close audit_log_export
          audit_master_key)
_gw_probe(_attest attest att_provider_open att_provider_free att_provider_kind
          att_provider_attested att_spki_sha256_cert att_evidence_json att_evidence_hash)
# -DGW_WITHOUT="analyst;phi" treats modules as absent (while a module's tree does not compile).
foreach(_m ${GW_WITHOUT})
  set(_${_m} 0)
endforeach()
set_source_files_properties(${MS_MODULE_DIR}/seams.c PROPERTIES COMPILE_DEFINITIONS
  "GW_HAVE_PHI=${_phi};GW_HAVE_DICOM=${_dicom};GW_HAVE_ANALYST=${_analyst};GW_HAVE_AUDIT=${_audit};GW_HAVE_ATTEST=${_attest}")
message(STATUS "gateway seams: phi=${_phi} dicom=${_dicom} analyst=${_analyst} audit=${_audit} attest=${_attest}")
