# Analyst module build additions: the ConText trigger lexicon generated at build time from
# data/analyst/context.tsv by scripts/analyst-gencontext.py.
set(an_gen_dir ${CMAKE_BINARY_DIR}/gen/analyst)
file(MAKE_DIRECTORY ${an_gen_dir})
add_custom_command(
  OUTPUT ${an_gen_dir}/context_lex.c
  COMMAND ${Python3_EXECUTABLE} ${CMAKE_SOURCE_DIR}/scripts/analyst-gencontext.py
          ${CMAKE_SOURCE_DIR}/data/analyst/context.tsv ${an_gen_dir}/context_lex.c
  DEPENDS ${CMAKE_SOURCE_DIR}/scripts/analyst-gencontext.py
          ${CMAKE_SOURCE_DIR}/data/analyst/context.tsv
  COMMENT "Generating the analyst's ConText lexicon"
  VERBATIM)
list(APPEND MS_GEN_SRCS ${an_gen_dir}/context_lex.c)
set_source_files_properties(${an_gen_dir}/context_lex.c PROPERTIES GENERATED TRUE)
